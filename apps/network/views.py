"""The protocol's endpoints (protocol.py) on this node's web server. Thin: each answers from a bounded read,
or, for an announcement, records who has news and enqueues the sync in the workers. The web process never
fetches from a peer, validates a chain or mines for one.

Every request is counted per client address (a token bucket; beyond the rate: 429) and every body is bounded
(beyond it: 413, unread). Errors are JSON in the API's shape: {"error": code, "detail": sentence}. The paths are
described in the API schema (apps/explorer/openapi.py) beside the explorer's.
"""

import json
import threading
import time
from collections import OrderedDict
from functools import wraps

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from apps.core.streaming import ChunkedResponse
from apps.federated.storage import blob_open
from apps.ledger.consensus import block_bytes, headers_after
from apps.ledger.models import PendingBatch
from apps.ledger.records import canonical_bytes

from . import protocol, scoring
from .models import Peer
from .services import inventory_receive, node_hello, peer_penalise

MAX_TRACKED_ADDRESSES = 10_000
clock = time.monotonic  # what the rate limits count seconds by
_buckets: OrderedDict = OrderedDict()
_buckets_lock = threading.Lock()


def _allowed(address: str) -> bool:
    now = clock()
    with _buckets_lock:
        bucket = _buckets.get(address)
        if bucket is None:
            rate = settings.FEDCHAIN_P2P_RATE
            bucket = _buckets[address] = scoring.TokenBucket(rate, 2 * rate, now)
            if len(_buckets) > MAX_TRACKED_ADDRESSES:
                _buckets.popitem(last=False)
        _buckets.move_to_end(address)
        return bucket.take(now)


ERROR_CODES = {400: "invalid_message", 404: "not_found", 411: "length_required", 413: "too_large", 429: "too_many_requests"}


def error(status, message):
    """The API's error shape: a short code and a sentence."""
    return JsonResponse({"error": ERROR_CODES[status], "detail": message}, status=status)


def _peer_at(request):
    url = request.headers.get("X-FedChain-Node-URL")
    return Peer.objects.filter(url=url.rstrip("/")).first() if url else None


def endpoint(*methods):
    def decorate(view):
        @csrf_exempt
        @require_http_methods(list(methods))
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            address = request.META.get("REMOTE_ADDR", "")
            if not _allowed(address):
                if not _recently_flagged(address):
                    peer_penalise(peer=_peer_at(request), offence="flood", detail="over the request rate", address=address)
                return error(429, f"more than {settings.FEDCHAIN_P2P_RATE} requests a second")
            try:
                return view(request, *args, **kwargs)
            except protocol.ProtocolError as bad:
                return error(400, str(bad))

        return wrapper

    return decorate


_flagged: dict = {}


def _recently_flagged(address) -> bool:
    """One flood offence per address per second is recorded, not one per refused request."""
    now = clock()
    with _buckets_lock:
        if now - _flagged.get(address, -10.0) < 1.0:
            return True
        if len(_flagged) > MAX_TRACKED_ADDRESSES:
            _flagged.clear()
        _flagged[address] = now
    return False


@endpoint("GET")
def hello(request):
    return JsonResponse(node_hello())


@endpoint("GET")
def peers(request):
    urls = Peer.objects.filter(last_seen__isnull=False, banned_until__isnull=True).values_list("url", flat=True)
    return JsonResponse({"peers": list(urls[: protocol.MAX_PEERS_SHARED])})


@endpoint("POST")
def inventory(request):
    length = request.META.get("CONTENT_LENGTH") or ""
    if not length.isdigit():
        return error(411, "an announcement needs a Content-Length")
    if int(length) > protocol.MAX_REQUEST_BYTES:
        peer_penalise(peer=_peer_at(request), offence="oversized", detail=f"a {length}-byte announcement",
                      address=request.META.get("REMOTE_ADDR", ""))
        return error(413, f"an announcement is at most {protocol.MAX_REQUEST_BYTES} bytes")
    try:
        data = json.loads(request.read(protocol.MAX_REQUEST_BYTES + 1))
    except (ValueError, UnicodeDecodeError):
        return error(400, "the body is not JSON")
    message = protocol.parse_inventory(data)
    queued = inventory_receive(message, sender_header=request.headers.get("X-FedChain-Node-URL"))
    return JsonResponse({"accepted": len(message.blocks) + len(message.batches), "sync_queued": queued}, status=202)


@endpoint("GET")
def headers(request):
    locator = protocol.parse_locator(request.GET.get("locator", ""))
    return JsonResponse({"headers": [raw.hex() for raw in headers_after(locator)]})


def _block_message(found) -> dict:
    stored, header, records = found
    return protocol.block_message(
        hash_hex=stored.hash, header=header, records=records, mined_by=stored.mined_by, signature=stored.mined_signature
    )


@endpoint("GET")
def block(request, hash_hex):
    found = block_bytes(protocol.digest_hex(hash_hex, "a block hash"))
    if found is None:
        return error(404, f"no block {hash_hex}")
    return JsonResponse(_block_message(found))


@endpoint("GET")
def blocks(request):
    """The blocks asked for, in order, as far as this node holds them and they fit in MAX_BLOCK_BYTES (at least
    one): the sender asks again for the rest."""
    wanted = protocol.parse_hash_list(
        request.GET.get("hashes", ""), what="hashes", limit=protocol.MAX_BLOCKS_PER_REQUEST
    )
    parts, size = [], 0
    for hash_hex in wanted:
        found = block_bytes(hash_hex)
        if found is None:
            break
        part = json.dumps(_block_message(found), separators=(",", ":")).encode()
        size += len(part) + 1
        if parts and size > protocol.MAX_BLOCK_BYTES:
            break
        parts.append(part)
    if not parts:
        return error(404, f"no block {wanted[0]}")
    return HttpResponse(b'{"blocks":[' + b",".join(parts) + b"]}", content_type="application/json")


@endpoint("GET")
def batches(request):
    pending = PendingBatch.objects.filter(status=PendingBatch.Status.PENDING).order_by("id")
    rows = pending.values_list("experiment_id", "round_number")[: protocol.MAX_BATCHES_LISTED]
    return JsonResponse({"batches": [{"experiment": e, "round": r} for e, r in rows]})


@endpoint("GET")
def batch(request, experiment, number):
    experiment, number = protocol.parse_round_ref(experiment, number)
    found = PendingBatch.objects.filter(experiment_id=experiment, round_number=number).first()
    if found is None:
        return error(404, f"no batch of experiment {experiment} round {number}")
    return JsonResponse(
        protocol.batch_message(
            experiment=found.experiment_id, round_number=found.round_number, parent_model=found.parent_model,
            difficulty_bits=found.difficulty_bits, records=_canonical(found.body), mining_reward=found.mining_reward,
        )
    )


def _canonical(body: str) -> list[bytes]:
    return [canonical_bytes(record) for record in json.loads(body)]


@endpoint("GET")
def blob(request, sha256):
    blob = blob_open(protocol.digest_hex(sha256, "a blob name"))
    if blob is None:
        return error(404, f"no blob {sha256}")
    # A slice at a time: a model blob may be hundreds of megabytes.
    response = ChunkedResponse(blob.chunks(), content_type="application/octet-stream")
    response["Content-Length"] = blob.size
    return response
