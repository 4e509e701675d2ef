"""Talking to a peer: httpx with timeouts, bounded retries and a cap on every answer's size.

A peer is a stranger: an answer larger than the message's limit is cut off and refused (PeerOversized), a
malformed one refused (ProtocolError), one that does not come in time is a failure (PeerUnreachable). None of
them raises anything else.
"""

import json
import time

import httpx

from . import protocol

CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 10.0
RETRIES = 2  # connection attempts beyond the first (transport retries: connect errors only)


class PeerError(Exception):
    offence = None  # a scoring offence, or None when the peer is merely unreachable


class PeerUnreachable(PeerError):
    pass


class PeerOversized(PeerError):
    offence = "oversized"


class PeerMalformed(PeerError):
    offence = "malformed"


class PeerClient:
    def __init__(self, url: str, *, sender: str | None = None, timeout: float | None = None):
        self.url = url.rstrip("/")
        headers = {"User-Agent": f"FedChain-node/{protocol.VERSION}"}
        if sender:
            headers["X-FedChain-Node-URL"] = sender
        self.http = httpx.Client(
            timeout=httpx.Timeout(timeout or READ_TIMEOUT, connect=CONNECT_TIMEOUT),
            transport=httpx.HTTPTransport(retries=RETRIES),
            headers=headers,
            follow_redirects=False,
            trust_env=False,  # never through a proxy from the environment
        )
        self.latency_ms = None

    def close(self):
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _request(self, method, path, *, limit, params=None, body=None) -> bytes:
        started = time.monotonic()
        try:
            with self.http.stream(method, self.url + protocol.PREFIX + path, params=params, json=body) as response:
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > limit:
                    raise PeerOversized(f"{path}: the answer announces {declared} bytes, above the {limit} limit")
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise PeerOversized(f"{path}: the answer exceeds the {limit}-byte limit")
                    chunks.append(chunk)
                status = response.status_code
        except httpx.HTTPError as error:
            raise PeerUnreachable(f"{path}: {type(error).__name__}: {error}"[:500]) from None
        self.latency_ms = (time.monotonic() - started) * 1000
        data = b"".join(chunks)
        if status == 404:
            raise PeerNotFound(f"{path}: not found")
        if status >= 400:
            raise PeerUnreachable(f"{path}: HTTP {status}: {data[:200]!r}")
        return data

    def _json(self, method, path, *, limit, **kwargs):
        data = self._request(method, path, limit=limit, **kwargs)
        try:
            return json.loads(data)
        except (ValueError, UnicodeDecodeError) as error:
            raise PeerMalformed(f"{path}: not JSON: {error}") from None

    def _parsed(self, parse, value, path):
        try:
            return parse(value)
        except protocol.ProtocolError as error:
            raise PeerMalformed(f"{path}: {error}") from None

    def hello(self) -> protocol.Hello:
        return self._parsed(protocol.parse_hello, self._json("GET", "hello", limit=protocol.MAX_SMALL_BYTES), "hello")

    def peers(self) -> list[str]:
        data = self._json("GET", "peers", limit=protocol.MAX_SMALL_BYTES)
        return self._parsed(protocol.parse_peer_list, data, "peers")

    def headers(self, locator: list[str]) -> list[bytes]:
        data = self._json("GET", "headers", limit=protocol.MAX_HEADERS_BYTES, params={"locator": ",".join(locator)})
        return self._parsed(protocol.parse_headers, data, "headers")

    def blocks(self, hashes: list[str], *, max_records: int) -> list[protocol.BlockMessage]:
        """The first of `hashes` the peer holds, in order (at least one: PeerNotFound otherwise)."""
        data = self._json("GET", "blocks", limit=protocol.MAX_BLOCK_BYTES + 64, params={"hashes": ",".join(hashes)})
        return self._parsed(lambda d: protocol.parse_blocks(d, max_records=max_records), data, "blocks")

    def batches(self) -> list[tuple[int, int]]:
        data = self._json("GET", "batches", limit=protocol.MAX_SMALL_BYTES)
        return self._parsed(protocol.parse_batch_list, data, "batches")

    def batch(self, experiment: int, round_number: int, *, max_records: int) -> protocol.BatchMessage:
        data = self._json("GET", f"batches/{experiment}/{round_number}", limit=protocol.MAX_BLOCK_BYTES)
        return self._parsed(lambda d: protocol.parse_batch(d, max_records=max_records), data, "batch")

    def blob(self, sha256: str, *, limit: int) -> bytes:
        return self._request("GET", f"blobs/{sha256}", limit=limit)

    def announce(self, message: dict) -> None:
        self._request("POST", "inv", limit=protocol.MAX_SMALL_BYTES, body=message)


class PeerNotFound(PeerError):
    """The peer does not have what was asked for (not misbehaviour)."""
