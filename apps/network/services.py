"""The node's side of the network: its peers, syncing from them (headers first, then blocks, batches and
blobs), announcing to them, and scoring them. The rules that decide what is accepted are the ledger's; this
module only moves bytes and reports what peers did.

Sync from a peer (`peer_sync`, run by the network loop: loop.py): hello (same genesis and chain parameters, its tip), then, when
its tip claims more work than ours, the headers after our block locator, checked as headers (link, proof of
work, difficulty, time) before any block is asked for; then the blocks of the heavier branch, up to 64 a request, each
checked in full and stored by `block_receive` (which reorganises once the branch has more work than ours);
then the pending round batches it has that we do not, and the model blobs our main chain names that we lack.
"""

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.keys import node_id
from apps.federated.blobs import content_address
from apps.federated.models import Blob
from apps.federated.storage import blobs_write
from apps.ledger import records as ledger_records
from apps.ledger.consensus import (
    PeerBlock,
    batch_receive,
    blocks_receive,
    blocks_set_aside,
    chain_locator,
    headers_check,
)
from apps.ledger.genesis import genesis_block
from apps.ledger.header import BlockHeader, display_hex, sha256d
from apps.ledger.models import Block, PendingBatch, Record
from apps.ledger.rules import BlockRejected
from apps.ledger.reads import chain_params
from apps.ledger.store import main_tip

from . import protocol, scoring
from .client import PeerClient, PeerError, PeerMalformed, PeerNotFound
from .models import Misbehaviour, Peer

logger = logging.getLogger(__name__)

MAX_HEADER_ROUNDS = 500  # 1,000,000 headers in one sync at most
MAX_BATCHES_PER_SYNC = 16
MAX_BLOBS_PER_SYNC = 256
BLOB_SWEEP_BLOCKS = 100  # newest main blocks whose blobs every sync makes sure of
FULL_SYNC_EVERY = timedelta(seconds=15)  # batches, blobs and peers are looked at this often even when tips agree


class SyncRefused(Exception):
    """The peer cannot be synced from (another chain, itself); the message says why."""


# --- peers -------------------------------------------------------------------------------------------------


def own_url() -> str | None:
    return settings.FEDCHAIN_NODE_URL or None


def peer_add(*, url: str, source=Peer.Source.MANUAL) -> Peer:
    """Adds a peer by its base URL (ProtocolError for a malformed URL); an existing one is returned."""
    url = protocol.peer_url(url)
    peer, created = Peer.objects.get_or_create(url=url, defaults={"source": source})
    if not created and source != Peer.Source.LEARNED and peer.source == Peer.Source.LEARNED:
        Peer.objects.filter(pk=peer.pk).update(source=source)
    return peer


def peer_remove(*, url: str) -> bool:
    return Peer.objects.filter(url=url.rstrip("/")).delete()[0] > 0


def peers_from_settings() -> None:
    for url in settings.FEDCHAIN_PEERS:
        try:
            peer_add(url=url, source=Peer.Source.CONFIG)
        except protocol.ProtocolError as error:
            logger.error("FEDCHAIN_PEERS: %s", error)


def peer_learn(url: str) -> Peer | None:
    """A peer named by another: added while there is room for it (FEDCHAIN_MAX_PEERS)."""
    try:
        url = protocol.peer_url(url)
    except protocol.ProtocolError:
        return None
    if url == own_url():
        return None
    peer = Peer.objects.filter(url=url).first()
    if peer is None and Peer.objects.count() < settings.FEDCHAIN_MAX_PEERS:
        peer, _ = Peer.objects.get_or_create(url=url, defaults={"source": Peer.Source.LEARNED})
    return peer


def peer_banned(peer: Peer, now=None) -> bool:
    return peer.banned_until is not None and peer.banned_until > (now or timezone.now())


def peer_due(peer: Peer, now=None) -> bool:
    now = now or timezone.now()
    return not peer_banned(peer, now) and (peer.next_attempt_at is None or peer.next_attempt_at <= now)


def peer_penalise(*, peer: Peer | None, offence: str, detail: str = "", address: str = "") -> None:
    """Scores the peer down for `offence` (scoring.OFFENCES) and bans it at scoring.BAN_POINTS."""
    now = timezone.now()
    with transaction.atomic():
        Misbehaviour.objects.create(peer=peer, address=address[:200], offence=offence, detail=detail[:2000])
        if peer is None:
            return
        peer = Peer.objects.select_for_update().get(pk=peer.pk)
        since = (now - peer.scored_at).total_seconds() if peer.scored_at else 0.0
        points, banned = scoring.penalise(peer.score, since, offence)
        changes = {"score": points, "scored_at": now, "last_error": f"{offence}: {detail}"[:2000]}
        if banned:
            changes["banned_until"] = now + timedelta(seconds=scoring.BAN_SECONDS)
        Peer.objects.filter(pk=peer.pk).update(**changes)
    logger.warning("peer %s: %s (%s)", peer.url, offence, detail[:300])


def _peer_failed(peer: Peer, error: str) -> None:
    failures = peer.failures + 1
    Peer.objects.filter(pk=peer.pk).update(
        failures=failures,
        last_error=error[:2000],
        next_attempt_at=timezone.now() + timedelta(seconds=scoring.backoff_seconds(failures)),
    )


def _peer_seen(peer: Peer, hello: protocol.Hello, latency_ms) -> None:
    Peer.objects.filter(pk=peer.pk).update(
        node_id=hello.node,
        tip_height=hello.tip.height,
        tip_hash=hello.tip.hash,
        chainwork=f"{hello.tip.chainwork:064x}",
        latency_ms=latency_ms,
        last_seen=timezone.now(),
        failures=0,
        next_attempt_at=None,
        last_error="",
    )


def peer_sync_request(peer: Peer) -> bool:
    """Asks the network loop (loop.py) to sync from `peer` soon; False when it is banned or a request waits
    already (bounded: one per peer at a time). Cheap: the web process calls it for every announcement."""
    if peer_banned(peer):
        return False
    return Peer.objects.filter(pk=peer.pk, sync_queued_at__isnull=True).update(sync_queued_at=timezone.now()) > 0


# --- what this node is -------------------------------------------------------------------------------------


def node_hello() -> dict:
    tip = main_tip()
    return protocol.hello_message(
        node=node_id(),
        genesis=genesis_block(chain_params()).hash_hex,
        params=chain_params().as_dict(),
        tip_height=tip.height,
        tip_hash=tip.hash,
        chainwork_hex=tip.chainwork,
        url=own_url(),
    )


# --- syncing -----------------------------------------------------------------------------------------------


def peer_check(peer: Peer) -> bool:
    """Asks the peer for its tip (one small request: the network loop's look at each peer) and says whether a
    sync from it is due: its tip is not ours, or the last full sync is older than FULL_SYNC_EVERY."""
    with PeerClient(peer.url, sender=own_url(), timeout=2.0) as client:
        try:
            hello = client.hello()
            _check_same_chain(hello)
        except SyncRefused as refused:
            if str(refused).startswith("itself"):
                Peer.objects.filter(pk=peer.pk).delete()
            else:
                peer_penalise(peer=peer, offence="wrong-chain", detail=str(refused))
            return False
        except PeerError as error:
            if error.offence:
                peer_penalise(peer=peer, offence=error.offence, detail=str(error))
            else:
                _peer_failed(peer, str(error))
            return False
        _peer_seen(peer, hello, client.latency_ms)
    if hello.tip.hash != main_tip().hash and not Block.objects.filter(hash=hello.tip.hash).exists():
        return True
    return peer.synced_at is None or peer.synced_at < timezone.now() - FULL_SYNC_EVERY


def peer_sync(peer: Peer) -> dict:
    """Brings this node up to what `peer` has (see the module's docstring). Returns what was done; a peer
    that misbehaves is scored down, one that does not answer backs off. Never raises for a peer's fault."""
    Peer.objects.filter(pk=peer.pk).update(sync_queued_at=None)
    report = {"peer": peer.url, "blocks": 0, "reorgs": 0, "batches": 0, "blobs": 0}
    if peer_banned(peer):
        report["error"] = "banned"
        return report
    with PeerClient(peer.url, sender=own_url()) as client:
        try:
            hello = client.hello()
            _check_same_chain(hello)
            _peer_seen(peer, hello, client.latency_ms)
            if hello.url and hello.url != peer.url:
                peer_learn(hello.url)
            _sync_blocks(client, hello, report)
            _sync_batches(client, report)
            report["blobs"] += _sync_blobs(client)
            for url in client.peers():
                peer_learn(url)
            Peer.objects.filter(pk=peer.pk).update(synced_at=timezone.now())
        except SyncRefused as refused:
            if str(refused).startswith("itself"):
                Peer.objects.filter(pk=peer.pk).delete()
            else:
                peer_penalise(peer=peer, offence="wrong-chain", detail=str(refused))
            report["error"] = str(refused)
        except BlockRejected as rejected:
            offence = "invalid-header" if getattr(rejected, "in_header", False) else "invalid-block"
            peer_penalise(peer=peer, offence=offence, detail=str(rejected))
            report["error"] = str(rejected)
        except PeerError as error:
            if error.offence:
                peer_penalise(peer=peer, offence=error.offence, detail=str(error))
            else:
                _peer_failed(peer, str(error))
            report["error"] = str(error)
    return report


def _check_same_chain(hello: protocol.Hello):
    if hello.node == node_id():
        raise SyncRefused("itself: the URL leads to this very node")
    if hello.version != protocol.VERSION:
        raise SyncRefused(f"it speaks protocol {hello.version}, this node {protocol.VERSION}")
    genesis = genesis_block(chain_params()).hash_hex
    if hello.genesis != genesis or hello.params != chain_params().as_dict():
        raise SyncRefused(f"another chain: genesis {hello.genesis} and parameters {hello.params}")


def _sync_blocks(client: PeerClient, hello: protocol.Hello, report: dict):
    ours = main_tip()
    if hello.tip.hash == ours.hash or hello.tip.chainwork < ours.chainwork_int:
        return
    if Block.objects.filter(hash=hello.tip.hash).exists():
        return  # its tip is a block we hold (on a branch with no more work than ours)
    wanted, last = _sync_headers(client, report)
    if last is None or last.chainwork < ours.chainwork_int:
        return  # the headers do not back its claim of more work: nothing to fetch
    max_records = chain_params().max_block_records
    position = 0
    while position < len(wanted):
        asked = wanted[position:position + protocol.MAX_BLOCKS_PER_REQUEST]
        messages = client.blocks(asked, max_records=max_records)
        if len(messages) > len(asked):
            raise PeerMalformed(f"asked for {len(asked)} blocks, got {len(messages)}")
        for hash_hex, message in zip(asked, messages):
            if display_hex(sha256d(message.header)) != hash_hex:
                raise PeerMalformed(f"asked for block {hash_hex}, got another")
        received = blocks_receive([
            PeerBlock(message.header, message.records, message.mined_by, message.signature) for message in messages
        ])
        report["blocks"] += sum(r.outcome != "known" for r in received)
        report["reorgs"] += sum(r.outcome == "reorg" for r in received)
        position += len(messages)


def _sync_headers(client: PeerClient, report: dict):
    """(hashes of the headers we lack, in order; the chain summary after the last header) from the peer."""
    locator = chain_locator()
    wanted, last = [], None
    for _ in range(MAX_HEADER_ROUNDS):
        headers = client.headers(locator)
        if not headers:
            break
        try:
            tips = headers_check(headers, after=last)
        except BlockRejected as rejected:
            rejected.in_header = True
            raise
        hashes = [display_hex(tip.digest) for tip in tips]
        known = set(Block.objects.filter(hash__in=hashes).values_list("hash", flat=True))
        wanted += [h for h in hashes if h not in known]
        last = tips[-1]
        locator = [hashes[-1]]
        if len(headers) < protocol.MAX_HEADERS:
            break
    report["headers"] = report.get("headers", 0) + len(wanted)
    return wanted, last


def _sync_batches(client: PeerClient, report: dict):
    if not settings.FEDCHAIN_SHARED_MINING:
        return
    listed = client.batches()
    known = set(PendingBatch.objects.values_list("experiment_id", "round_number"))
    max_records = chain_params().max_block_records
    fetched = 0
    for experiment, number in listed:
        if (experiment, number) in known or fetched >= MAX_BATCHES_PER_SYNC:
            continue
        try:
            message = client.batch(experiment, number, max_records=max_records)
        except PeerNotFound:
            continue  # mined meanwhile
        fetched += 1
        if (message.experiment, message.round) != (experiment, number):
            raise PeerMalformed(f"asked for the batch of experiment {experiment} round {number}, got another")
        try:
            batch_receive(
                experiment_id=message.experiment,
                round_number=message.round,
                parent_model=message.parent_model,
                difficulty_bits=message.difficulty_bits,
                records=message.records,
                mining_reward=message.mining_reward,
            )
        except ValueError as error:
            raise PeerMalformed(f"batch of experiment {experiment} round {number}: {error}") from None
        report["batches"] += 1


BLOB_FIELDS = {ledger_records.CLIENT_UPDATE: "update", ledger_records.GLOBAL_MODEL: "model"}


def blobs_named(blocks) -> set[str]:
    """The model blobs the records of `blocks` name (client updates and global models)."""
    names = set()
    bodies = Record.objects.filter(block__in=blocks, type__in=list(BLOB_FIELDS)).values_list("type", "body")
    for kind, body in bodies:
        try:
            name = json.loads(body).get(BLOB_FIELDS[kind])
        except (ValueError, AttributeError):
            continue
        if ledger_records.is_sha256_hex(name):
            names.add(name)
    return names


def blobs_missing(blocks) -> list[str]:
    names = blobs_named(blocks)
    present = set(Blob.objects.filter(sha256__in=names).values_list("sha256", flat=True))
    return sorted(names - present)


def _sync_blobs(client: PeerClient, *, blocks=None, limit=MAX_BLOBS_PER_SYNC) -> int:
    """Fetches the blobs that the newest main blocks (or `blocks`) name and this node lacks; each must hash to
    its name. Returns how many were stored."""
    if blocks is None:
        newest = Block.objects.filter(status=Block.Status.MAIN).order_by("-height")[:BLOB_SWEEP_BLOCKS]
        blocks = list(newest.values_list("pk", flat=True))
    stored = 0
    for name in blobs_missing(blocks)[:limit]:
        try:
            data = client.blob(name, limit=settings.FEDCHAIN_P2P_MAX_BLOB_BYTES)
        except PeerNotFound:
            continue
        if content_address(data) != name:
            raise PeerMalformed(f"blob {name} does not hash to its name")
        with transaction.atomic():
            blobs_write([data])
        stored += 1
    return stored


# --- announcing --------------------------------------------------------------------------------------------


def peers_announce(*, blocks=(), batches=()) -> int:
    """Tells every usable peer about new blocks and batches (an inventory); returns how many took it."""
    if not blocks and not batches:
        return 0
    message = protocol.inventory_message(sender=own_url(), blocks=list(blocks)[:128], batches=list(batches)[:128])
    told = 0
    for peer in Peer.objects.all():
        if not peer_due(peer):
            continue
        with PeerClient(peer.url, sender=own_url(), timeout=2.0) as client:
            try:
                client.announce(message)
                told += 1
            except PeerError as error:
                _peer_failed(peer, str(error))
    return told


def inventory_receive(inventory: protocol.Inventory, *, sender_header: str | None) -> bool:
    """An announcement from a peer: a sync from it is requested (at most one waits per peer)."""
    url = inventory.sender or sender_header
    if not url:
        return False
    peer = peer_learn(url)
    if peer is None:
        return False
    return peer_sync_request(peer)


# --- repair ------------------------------------------------------------------------------------------------


class RepairError(Exception):
    """The chain cannot be repaired from the peers (none answers, or none holds a better chain)."""


def best_peer() -> tuple[Peer, protocol.Hello]:
    """The usable peer with the most work on our chain parameters, asked afresh."""
    best = None
    for peer in Peer.objects.all():
        if peer_banned(peer):
            continue
        with PeerClient(peer.url, sender=own_url(), timeout=5.0) as client:
            try:
                hello = client.hello()
                _check_same_chain(hello)
            except (PeerError, SyncRefused):
                continue
        if best is None or hello.tip.chainwork > best[1].tip.chainwork:
            best = (peer, hello)
    if best is None:
        raise RepairError("no peer answers with this chain's genesis block and parameters")
    return best


def chain_repair(*, trusted_below: int | None, quarantine_dir) -> dict:
    """Restores the chain from the best peer: this node's blocks from the height where they stop being
    trustworthy (`trusted_below`: verify_chain's first invalid height; None when they all verify) or where they
    leave the peer's chain, whichever is lower, are set aside into a file in `quarantine_dir` and fetched again
    from the peer, blobs included. A chain that verifies and has more work than the peer's is kept."""
    peer, hello = best_peer()
    ours = main_tip()
    trusted_top = ours.height if trusted_below is None else trusted_below - 1
    with PeerClient(peer.url, sender=own_url()) as client:
        # Where the peer's main chain leaves ours, judged on the trusted part of ours only.
        locator = [h for h in chain_locator() if Block.objects.filter(hash=h, height__lte=trusted_top).exists()]
        headers = client.headers(locator)
        if headers:
            parent = display_hex(BlockHeader.parse(headers[0]).prev_hash)
            shared = Block.objects.filter(status=Block.Status.MAIN, hash=parent).values_list("height", flat=True).first()
            if shared is None:
                raise RepairError(f"the peer's headers start after {parent}, which is not on this node's chain")
        else:
            shared = trusted_top  # the peer has nothing beyond our trusted part
        keep = min(shared, trusted_top)
        if trusted_below is None and keep == ours.height:
            return {"peer": peer.url, "kept": ours.height, "set_aside": 0, "file": None, **_after_repair(client)}
        if trusted_below is None and hello.tip.chainwork < ours.chainwork_int:
            raise RepairError(
                f"this node's chain verifies and has more work than {peer.url}'s: nothing to repair from it"
            )
        removed = blocks_set_aside(above_height=keep)
        path = None
        if removed:
            quarantine_dir.mkdir(parents=True, exist_ok=True)
            path = quarantine_dir / f"set-aside-{timezone.now():%Y%m%dT%H%M%S}-from-{keep + 1}.json"
            path.write_text(json.dumps({"kept_height": keep, "blocks": removed}, indent=1))
        report = peer_sync(peer)
        if report.get("error"):
            raise RepairError(f"syncing from {peer.url} failed after setting blocks aside ({path}): {report['error']}")
        return {"peer": peer.url, "kept": keep, "set_aside": len(removed), "file": str(path) if path else None,
                "blocks": report["blocks"], **_after_repair(client)}


def _after_repair(client) -> dict:
    """Every blob the whole main chain names that this node lacks, from the peer."""
    main = list(Block.objects.filter(status=Block.Status.MAIN).values_list("pk", flat=True))
    return {"blobs": _sync_blobs(client, blocks=main, limit=100_000)}
