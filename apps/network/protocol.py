"""The node-to-node protocol, version 1: message shapes, their limits, and the checks of what a peer sends.

Modelled on Bitcoin's: a node announces what it has (inventory: blocks by hash, pending round batches by
experiment and round), a peer asks for the headers after a block locator, then for blocks by hash (80-byte
header + canonical records) and the model blobs their records name (by SHA-256). Everything travels as JSON
over HTTP(S) except blobs (raw bytes). Nothing here trusts a peer: every parse either returns well-formed
values within the limits below or raises ProtocolError saying what is wrong. Pure: no Django.

    GET  /p2p/v1/hello                    -> Hello
    GET  /p2p/v1/peers                    -> {"peers": [url, ...]}
    POST /p2p/v1/inv      Inventory       -> 202 {"accepted": n}
    GET  /p2p/v1/headers?locator=h1,h2..  -> {"headers": [hex of 80 bytes, ...]}     (at most MAX_HEADERS)
    GET  /p2p/v1/blocks/<hash>            -> {"hash", "header", "records": [str], "mined_by"}
    GET  /p2p/v1/batches                  -> {"batches": [{"experiment", "round"}, ...]}  (pending ones)
    GET  /p2p/v1/batches/<e>/<r>          -> {"experiment", "round", "parent_model", "difficulty_bits", "records"}
    GET  /p2p/v1/blobs/<sha256>           -> the blob's bytes
"""

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

VERSION = 1
PREFIX = f"/p2p/v{VERSION}/"

MAX_HEADERS = 2000
MAX_LOCATOR = 64
MAX_BLOCKS_PER_REQUEST = 64  # blocks asked for at once (the answer also stops at MAX_BLOCK_BYTES)
MAX_INVENTORY = 256
MAX_PEERS_SHARED = 64
MAX_BATCHES_LISTED = 256
MAX_URL = 200
MAX_MINING_REWARD = 1e9  # the largest an experiment may set (apps.federated.config)
# Whole messages: a request body a node reads, and the JSON answers it accepts from a peer.
MAX_REQUEST_BYTES = 64 * 1024
MAX_HEADERS_BYTES = MAX_HEADERS * 200 + 4096
MAX_BLOCK_BYTES = 16 * 1024 * 1024
MAX_SMALL_BYTES = 256 * 1024  # hello, peers, batch lists

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX160 = re.compile(r"[0-9a-f]{160}")


class ProtocolError(ValueError):
    """A peer's message is malformed or beyond a limit."""


def _object(value, what):
    if not isinstance(value, dict):
        raise ProtocolError(f"{what} must be a JSON object")
    return value


def _int(value, what, minimum=0, maximum=2**63):
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        value = int(value)  # JSON does not tell 5 from 5.0 (nor does JSON Schema's "integer")
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise ProtocolError(f"{what} must be an integer from {minimum} to {maximum}, got {value!r}"[:200])
    return value


def digest_hex(value, what="a hash") -> str:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise ProtocolError(f"{what} must be 64 lowercase hex characters, got {value!r}"[:200])
    return value


_PORT = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
# A peer's base URL: http(s)://host[:port][/path], host a name or an IPv4 address, no query or fragment. The API
# schema states the same pattern.
PEER_URL_PATTERN = r"^https?://[A-Za-z0-9.-]+(:" + _PORT + r")?(/[A-Za-z0-9._~-]*)*$"
_PEER_URL = re.compile(PEER_URL_PATTERN)


def peer_url(value) -> str:
    """A peer's base URL (PEER_URL_PATTERN), without a trailing slash."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_URL:
        raise ProtocolError(f"a peer URL is a string of 1 to {MAX_URL} characters")
    if not _PEER_URL.fullmatch(value) or not urlsplit(value).hostname:
        raise ProtocolError(f"{value[:80]!r} is not an http(s)://host[:port][/path] URL")
    return value.rstrip("/")


@dataclass(frozen=True)
class Tip:
    height: int
    hash: str
    chainwork: int


@dataclass(frozen=True)
class Hello:
    version: int
    node: str
    genesis: str
    params: dict
    tip: Tip
    url: str | None


def hello_message(*, node, genesis, params, tip_height, tip_hash, chainwork_hex, url) -> dict:
    return {
        "protocol": VERSION,
        "node": node,
        "genesis": genesis,
        "params": params,
        "tip": {"height": tip_height, "hash": tip_hash, "chainwork": chainwork_hex},
        "url": url,
    }


def parse_hello(data) -> Hello:
    data = _object(data, "hello")
    version = _int(data.get("protocol"), "protocol", 1, 2**16)
    node = digest_hex(data.get("node"), "node")
    genesis = digest_hex(data.get("genesis"), "genesis")
    params = _object(data.get("params"), "params")
    tip = _object(data.get("tip"), "tip")
    chainwork = tip.get("chainwork")
    if not isinstance(chainwork, str) or not _HEX64.fullmatch(chainwork):
        raise ProtocolError("tip.chainwork must be 64 hex digits")
    url = data.get("url")
    return Hello(
        version=version,
        node=node,
        genesis=genesis,
        params=params,
        tip=Tip(_int(tip.get("height"), "tip.height"), digest_hex(tip.get("hash"), "tip.hash"), int(chainwork, 16)),
        url=None if url is None else peer_url(url),
    )


@dataclass(frozen=True)
class Inventory:
    sender: str | None  # the announcing node's own URL, when it gives one
    blocks: tuple[str, ...]
    batches: tuple[tuple[int, int], ...]


def inventory_message(*, sender, blocks=(), batches=()) -> dict:
    items = [{"type": "block", "hash": h} for h in blocks]
    items += [{"type": "batch", "experiment": e, "round": r} for e, r in batches]
    return {"from": sender, "items": items}


def parse_inventory(data) -> Inventory:
    data = _object(data, "inventory")
    sender = data.get("from")
    items = data.get("items")
    if not isinstance(items, list) or len(items) > MAX_INVENTORY:
        raise ProtocolError(f"items must be a list of at most {MAX_INVENTORY} entries")
    blocks, batches = [], []
    for position, item in enumerate(items):
        item = _object(item, f"items[{position}]")
        if item.get("type") == "block":
            blocks.append(digest_hex(item.get("hash"), f"items[{position}].hash"))
        elif item.get("type") == "batch":
            batches.append((_int(item.get("experiment"), "experiment", 0, 2**53), _int(item.get("round"), "round", 0, 2**31)))
        else:
            raise ProtocolError(f"items[{position}] has an unknown type {item.get('type')!r}"[:200])
    return Inventory(None if sender is None else peer_url(sender), tuple(blocks), tuple(batches))


MAX_EXPERIMENT = 2**53 - 1
MAX_ROUND = 2**31 - 1


def parse_round_ref(experiment: str, number: str) -> tuple[int, int]:
    """An experiment id and round number from a path: ASCII digits within their ranges."""
    values = []
    for text, name, maximum in ((experiment, "experiment", MAX_EXPERIMENT), (number, "round", MAX_ROUND)):
        if not (text.isascii() and text.isdigit() and len(text) <= 16) or int(text) > maximum:
            raise ProtocolError(f"{name} must be a whole number from 0 to {maximum}, got {text[:40]!r}")
        values.append(int(text))
    return values[0], values[1]


def parse_hash_list(text, *, what="locator", limit=MAX_LOCATOR) -> list[str]:
    """Block hashes from a query parameter: comma-separated, 1 to `limit` of them."""
    if not isinstance(text, str) or not text:
        raise ProtocolError(f"{what} must be a comma-separated list of block hashes")
    hashes = text.split(",")
    if len(hashes) > limit:
        raise ProtocolError(f"{what} holds at most {limit} hashes, got {len(hashes)}")
    return [digest_hex(h, f"a hash in {what}") for h in hashes]


def parse_locator(text) -> list[str]:
    return parse_hash_list(text, what="locator", limit=MAX_LOCATOR)


def parse_headers(data) -> list[bytes]:
    data = _object(data, "headers answer")
    headers = data.get("headers")
    if not isinstance(headers, list) or len(headers) > MAX_HEADERS:
        raise ProtocolError(f"headers must be a list of at most {MAX_HEADERS} entries")
    out = []
    for position, item in enumerate(headers):
        if not isinstance(item, str) or not _HEX160.fullmatch(item):
            raise ProtocolError(f"headers[{position}] is not the hex of an 80-byte header")
        out.append(bytes.fromhex(item))
    return out


@dataclass(frozen=True)
class BlockMessage:
    header: bytes
    records: tuple[bytes, ...]
    mined_by: str  # node id the block's signature names (checked by the caller), or ""
    signature: str


def block_message(*, hash_hex, header, records, mined_by="", signature="") -> dict:
    return {
        "hash": hash_hex,
        "header": header.hex(),
        "records": [r.decode() for r in records],
        "mined_by": {"node": mined_by, "signature": signature} if mined_by else None,
    }


def parse_block(data, *, max_records) -> BlockMessage:
    data = _object(data, "block")
    header = data.get("header")
    if not isinstance(header, str) or not _HEX160.fullmatch(header):
        raise ProtocolError("header must be the hex of 80 bytes")
    records = _records(data.get("records"), max_records)
    mined_by, signature = "", ""
    claim = data.get("mined_by")
    if claim is not None:
        claim = _object(claim, "mined_by")
        mined_by = digest_hex(claim.get("node"), "mined_by.node")
        signature = claim.get("signature")
        if not isinstance(signature, str) or not re.fullmatch(r"[0-9a-f]{128}", signature):
            raise ProtocolError("mined_by.signature must be 128 hex characters")
    return BlockMessage(bytes.fromhex(header), records, mined_by, signature)


def parse_blocks(data, *, max_records) -> list[BlockMessage]:
    """The answer to a request for several blocks: 1 to MAX_BLOCKS_PER_REQUEST of them, in the order asked."""
    data = _object(data, "blocks answer")
    blocks = data.get("blocks")
    if not isinstance(blocks, list) or not 1 <= len(blocks) <= MAX_BLOCKS_PER_REQUEST:
        raise ProtocolError(f"blocks must be a list of 1 to {MAX_BLOCKS_PER_REQUEST} blocks")
    return [parse_block(block, max_records=max_records) for block in blocks]


def _records(records, max_records) -> tuple[bytes, ...]:
    if not isinstance(records, list) or not 1 <= len(records) <= max_records:
        raise ProtocolError(f"records must be a list of 1 to {max_records} canonical JSON strings")
    if not all(isinstance(r, str) for r in records):
        raise ProtocolError("every record is a string of canonical JSON")
    return tuple(r.encode() for r in records)


@dataclass(frozen=True)
class BatchMessage:
    experiment: int
    round: int
    parent_model: str | None
    difficulty_bits: int
    records: tuple[bytes, ...]
    mining_reward: float | None = None  # what the block's miner pays itself, whichever node mines it


def batch_message(*, experiment, round_number, parent_model, difficulty_bits, records, mining_reward=None) -> dict:
    return {
        "experiment": experiment,
        "round": round_number,
        "parent_model": parent_model,
        "difficulty_bits": difficulty_bits,
        "records": [r.decode() for r in records],
        "mining_reward": mining_reward,
    }


def parse_batch(data, *, max_records) -> BatchMessage:
    data = _object(data, "batch")
    parent = data.get("parent_model")
    return BatchMessage(
        experiment=_int(data.get("experiment"), "experiment", 0, 2**53),
        round=_int(data.get("round"), "round", 0, 2**31),
        parent_model=None if parent is None else digest_hex(parent, "parent_model"),
        difficulty_bits=_int(data.get("difficulty_bits"), "difficulty_bits", 0, 255),
        records=_records(data.get("records"), max_records),
        mining_reward=_reward(data.get("mining_reward")),
    )


def _reward(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_MINING_REWARD:
        raise ProtocolError(f"mining_reward must be null or a number from 0 to {MAX_MINING_REWARD:g}")
    return float(value)


def parse_batch_list(data) -> list[tuple[int, int]]:
    data = _object(data, "batch list")
    batches = data.get("batches")
    if not isinstance(batches, list) or len(batches) > MAX_BATCHES_LISTED:
        raise ProtocolError(f"batches must be a list of at most {MAX_BATCHES_LISTED} entries")
    out = []
    for item in batches:
        item = _object(item, "a batch entry")
        out.append((_int(item.get("experiment"), "experiment", 0, 2**53), _int(item.get("round"), "round", 0, 2**31)))
    return out


def parse_peer_list(data) -> list[str]:
    data = _object(data, "peer list")
    peers = data.get("peers")
    if not isinstance(peers, list) or len(peers) > MAX_PEERS_SHARED:
        raise ProtocolError(f"peers must be a list of at most {MAX_PEERS_SHARED} URLs")
    return [peer_url(p) for p in peers]
