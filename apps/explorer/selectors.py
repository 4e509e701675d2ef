"""Reads behind the explorer's pages and API: rows of the ledger and federated apps turned into the JSON-ready
dicts that /api/schema/ describes. The pages render the same dicts, so both always say the same thing.

The explorer never writes: an empty database shows an empty chain (the ledger stores its genesis block when
the database is migrated, and on first use elsewhere). Every list is read by keyset on an indexed column, so a page costs the same at any chain length;
only /chain/'s count of stale blocks reads more than a page (by the index on status and height).
"""

import json

from django.db.models import Count
from django.urls import reverse

from apps.core.pagination import keyset_page
from apps.federated.models import Client, ClientUpdate, Experiment, Round
from apps.federated.selectors import experiment_payload, round_payload
from apps.federated.storage import blob_open
from apps.ledger.genesis import genesis_block
from apps.ledger.header import BlockHeader
from apps.ledger.merkle import inclusion_proof, leaf_hash, verify_inclusion
from apps.ledger.models import Block, Checkpoint, Record
from apps.ledger.retarget import median_time_past
from apps.ledger.reads import block_payload, chain_params, chain_status, checkpoint_verify, difficulty, work_bits
from apps.ledger.store import block_check
from apps.ledger.rules import BlockRejected

from .errors import NotFound
from .openapi import MAX_PAGE

MAIN = Block.Status.MAIN
STALE = Block.Status.STALE


def experiment_page_url(experiment_id):
    """The experiment's live page, served by the dashboard."""
    return reverse("dashboard:experiment", args=[experiment_id])


# --- blocks ----------------------------------------------------------------------------------------------


def block_summary(block, *, parent_time=None):
    """The block's one shape (block_payload) and the wait since its parent."""
    return {
        **block_payload(block),
        # The genesis block's time is fixed at the chain's creation: the wait after it is no block interval.
        "interval": None if parent_time is None or block.height <= 1 else block.time - parent_time,
    }


def main_tip():
    return Block.objects.filter(status=MAIN).order_by("-height").first()


def stands_valid(height, validity):
    """Whether a main block at `height` is neither the chain's first invalid block nor above it (so stands on
    it). `validity` is chain_validity()'s verdict."""
    first_invalid = validity["first_invalid"]
    return first_invalid is None or height < first_invalid["height"]


def block_page(*, before=None, limit):
    """Main-chain blocks below height `before` (default: from the tip), newest first, each saying whether it
    stands on a valid chain."""
    blocks = Block.objects.filter(status=MAIN).order_by("-height")
    if before is not None:
        blocks = blocks.filter(height__lt=before)
    # One row beyond the page tells whether there is a next page and gives the last block's parent time.
    rows = list(blocks[: limit + 1])
    page = keyset_page(rows, limit=limit, key=lambda block: block.height)
    parents = {block.height: block.time for block in rows}
    if len(rows) <= limit and rows and rows[-1].height > 0:
        parent = Block.objects.filter(status=MAIN, height=rows[-1].height - 1).values_list("time", flat=True).first()
        if parent is not None:
            parents[rows[-1].height - 1] = parent
    validity = chain_validity()
    items = [
        {**block_summary(block, parent_time=parents.get(block.height - 1)), "valid": stands_valid(block.height, validity)}
        for block in page.items
    ]
    return items, page.next_key


def block_find(kind, value):
    """A block by height (main chain) or by hash (stale blocks too)."""
    if kind == "height":
        block = Block.objects.filter(status=MAIN, height=value).first()
        if block is None:
            raise NotFound(f"The main chain has no block at height {value}.")
        return block
    block = Block.objects.filter(hash=value).first()
    if block is None:
        raise NotFound(f"No block has the hash {value}.")
    return block


def header_bytes(block):
    """The stored header; a raw SQL edit can leave text in the column, which must show as broken, not crash."""
    value = block.header
    return bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) else str(value).encode()


def record_object(body):
    """A stored record body as its JSON object; None if an edit left something else there."""
    try:
        record = json.loads(body)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _record_entries(records):
    return [{"txid": row.txid, "index": row.position, "record": record_object(row.body)} for row in records]


# A block's page re-checks the block's records by the ledger's rules only when they are at most this many bytes
# (10 000 client updates are about 3.5 MB; a block may hold 10 000 records of 64 KB): beyond, it shows what the
# chain watcher's full checks found, and says so. A view never costs more than reading a few megabytes.
RECHECK_MAX_BYTES = 4 * 1024 * 1024
# Records a block's page (and /api/blocks/<ref>/) lists at a time; ?after=<index> pages through the rest.
RECORDS_PAGE = MAX_PAGE


def block_verdict(block, chain):
    """(valid, violation, rechecked) of a stored block: the chain's last full check, and this block re-checked
    now against its parent by the ledger's rules (its header always; its records when they are at most
    RECHECK_MAX_BYTES, else rechecked is False). Stale blocks are checked the same way, off the main chain."""
    first_invalid = chain["first_invalid"]
    if block.status == MAIN and first_invalid is not None and first_invalid["height"] <= block.height:
        return False, first_invalid, True
    try:
        header = BlockHeader.parse(header_bytes(block))
    except ValueError as error:
        return False, {"height": block.height, "rule": "header", "message": str(error)}, True
    if header.hash_hex() != block.hash:
        message = f"the stored hash {block.hash} is not the header's SHA-256d {header.hash_hex()}"
        return False, {"height": block.height, "rule": "hash", "message": message}, True
    if block.height == 0:
        genesis = genesis_block(chain_params())
        if header_bytes(block) != genesis.header_bytes:
            return False, {"height": 0, "rule": "genesis", "message": "block 0 is not the fixed genesis block"}, True
        return True, None, True
    records, size = [], 0
    # Read a chunk at a time: a block past the bound is not loaded whole to find that out.
    for body in block.records.order_by("position").values_list("body", flat=True).iterator(chunk_size=100):
        size += len(body)
        if size > RECHECK_MAX_BYTES:
            return True, None, False
        records.append(record_object(body))
    if None in records:
        message = f"record {records.index(None)} is not a JSON object"
        return False, {"height": block.height, "rule": "records", "message": message}, True
    try:
        block_check(header=header, records=records)
    except BlockRejected as rejected:
        return False, {"height": block.height, "rule": rejected.rule, "message": rejected.message}, True
    return True, None, True


def block_detail(block, *, after=None, limit=RECORDS_PAGE):
    """Everything about one block: header fields, neighbours, validity and a page of its records (those past
    leaf index `after`, at most `limit`; tx_next_after continues)."""
    tip = main_tip()
    parent = Block.objects.filter(status=MAIN, hash=block.prev_hash).values_list("time", flat=True).first()
    child = None
    if block.status == MAIN:
        child = Block.objects.filter(status=MAIN, height=block.height + 1, prev_hash=block.hash).values_list(
            "hash", flat=True
        ).first()
    recent = Block.objects.filter(
        status=MAIN, height__lte=block.height, height__gt=block.height - chain_params().median_time_span
    ).values_list("time", flat=True)
    valid, violation, rechecked = block_verdict(block, chain_validity())
    records = block.records.order_by("position")
    if after is not None:
        records = records.filter(position__gt=after)
    page = keyset_page(records[: limit + 1], limit=limit, key=lambda row: row.position)
    return {
        **block_summary(block, parent_time=parent),
        "header_hex": header_bytes(block).hex(),
        "mediantime": median_time_past(sorted(recent), chain_params().median_time_span) if block.status == MAIN else block.time,
        "confirmations": tip.height - block.height + 1 if block.status == MAIN and tip else -1,
        "nextblockhash": child,
        "stale": block.status == STALE,
        "valid": valid,
        "violation": violation,
        "records_rechecked": rechecked,
        "tx": _record_entries(page.items),
        "tx_next_after": page.next_key,
    }


# --- the chain -------------------------------------------------------------------------------------------


def chain_validity():
    """The ledger's verdict: the last full check by `watch_chain` plus a fresh check of the tip and its
    signed checkpoint (a read that writes nothing). An empty database has nothing invalid in it yet."""
    status = chain_status()
    return {key: status[key] for key in ("valid", "first_invalid", "checked_at", "checkpoint")}


def checkpoint_summary(validity):
    checkpoint = Checkpoint.objects.order_by("-height").first()
    if checkpoint is None:
        return None
    on_chain = Block.objects.filter(status=MAIN, height=checkpoint.height, hash=checkpoint.hash).exists()
    return {
        "height": checkpoint.height,
        "hash": checkpoint.hash,
        "created_at": checkpoint.created_at.isoformat(),
        "signature_valid": checkpoint_verify(checkpoint),
        "on_chain": on_chain,
        "block_valid": on_chain and stands_valid(checkpoint.height, validity),
    }


def chain_overview():
    """The chain's state (Bitcoin RPC's getblockchaininfo names), its validity, newest checkpoint and forks."""
    tip = main_tip()
    validity = chain_validity()
    recent = []
    if tip is not None:
        span = chain_params().median_time_span
        recent = list(
            Block.objects.filter(status=MAIN, height__gt=tip.height - span).order_by("height").values_list("time", flat=True)
        )
    stale_blocks = Block.objects.filter(status=STALE).count()
    return {
        "chain": "fedchain",
        "blocks": tip.height if tip else None,
        "bestblockhash": tip.hash if tip else None,
        "time": tip.time if tip else None,
        "mediantime": median_time_past(recent, chain_params().median_time_span) if recent else None,
        "bits": f"{tip.bits:08x}" if tip else None,
        "work_bits": work_bits(tip.bits) if tip else None,
        "difficulty": difficulty(tip.bits) if tip else None,
        "chainwork": tip.chainwork if tip else "0" * 64,
        "stale_blocks": stale_blocks,
        "validity": validity,
        "checkpoint": checkpoint_summary(validity),
        "forks": chain_forks(limit=FORKS_SHOWN) if stale_blocks else [],
    }


def chain_history(*, limit):
    """The last `limit` main blocks, oldest first, for the difficulty and interval charts."""
    rows = list(
        Block.objects.filter(status=MAIN).order_by("-height").values_list("height", "time", "bits", "mined_seconds")[
            : limit + 1
        ]
    )[::-1]
    history = {"height": [], "work_bits": [], "difficulty": [], "interval": [], "time_to_mine": []}
    for previous, (height, time, bits, mined_seconds) in zip([None, *rows], rows):
        if previous is None and len(rows) > limit:
            continue  # the extra row only gives the first charted block its interval
        history["height"].append(height)
        history["work_bits"].append(work_bits(bits))
        history["difficulty"].append(difficulty(bits))
        # The genesis block's time is fixed at the chain's creation: the wait after it is no block interval.
        history["interval"].append(None if previous is None or previous[0] == 0 else time - previous[1])
        history["time_to_mine"].append(mined_seconds)
    return history


FORKS_SHOWN = 50  # stale blocks read for the fork view


def _fork_entry(block):
    return {"height": block.height, "hash": block.hash, "mined_by": block.mined_by or None}


def chain_forks(*, limit):
    """The side branches among the newest `limit` stale blocks, newest first: each from the main block it
    forks from up to its own tip, beside the main blocks it competed with at the same heights.

    Reads at most `limit` stale blocks plus one query per level of the longest branch (bounded by `limit`);
    a branch whose parent is not stored (or lies beyond what was read) has no fork point."""
    stale = list(Block.objects.filter(status=STALE).order_by("-height", "-id")[:limit])
    by_hash = {block.hash: block for block in stale}
    missing = {block.prev_hash for block in stale} - by_hash.keys()
    for _ in range(limit):
        if not missing:
            break
        found = list(Block.objects.filter(hash__in=missing))
        for block in found:
            by_hash[block.hash] = block
        missing = {block.prev_hash for block in found if block.status == STALE} - by_hash.keys()
    parents = {block.prev_hash for block in stale}
    branches = []
    for tip in stale:
        if tip.hash in parents:
            continue  # not a branch's tip: a newer stale block stands on it
        blocks, block = [], tip
        while block is not None and block.status == STALE and len(blocks) < limit:
            blocks.append(block)
            block = by_hash.get(block.prev_hash)
        fork = block if block is not None and block.status == MAIN else None
        branches.append({"fork": _fork_entry(fork) if fork else None, "blocks": blocks[::-1]})
    heights = {block.height for branch in branches for block in branch["blocks"]}
    main = {block.height: block for block in Block.objects.filter(status=MAIN, height__in=heights)}
    return [
        {
            "fork": branch["fork"],
            "length": len(branch["blocks"]),
            "blocks": [
                {
                    **_fork_entry(block),
                    "experiment": block.experiment_id,
                    "round": block.round_number,
                    "main": _fork_entry(main[block.height]) if block.height in main else None,
                }
                for block in branch["blocks"]
            ],
        }
        for branch in branches
    ]


# --- records ---------------------------------------------------------------------------------------------


def record_find(txid):
    """The record with this txid, on the main chain if it is there (a round mined twice also sits in a stale
    block)."""
    rows = list(Record.objects.filter(txid=txid).select_related("block").order_by("-block__height", "-block_id")[:10])
    if not rows:
        raise NotFound(f"No record has the txid {txid}.")
    return next((row for row in rows if row.block.status == MAIN), rows[0])


def record_detail(row):
    block = row.block
    tip = main_tip()
    body = row.body.encode()
    return {
        "txid": row.txid,
        "record": record_object(row.body),
        "hex": body.hex(),
        "type": row.type,
        "index": row.position,
        "blockhash": block.hash,
        "height": block.height,
        "blocktime": block.time,
        "confirmations": tip.height - block.height + 1 if block.status == MAIN and tip else -1,
    }


def record_proof(row):
    """The record's RFC 6962 inclusion proof in its block, checked against the root in the stored header."""
    block = row.block
    leaves = [body.encode() for body in block.records.order_by("position").values_list("body", flat=True)]
    data = row.body.encode()
    proof = inclusion_proof(leaves, row.position)
    try:
        root = BlockHeader.parse(header_bytes(block)).merkle_root
    except ValueError:
        root = None
    return {
        "txid": row.txid,
        "blockhash": block.hash,
        "height": block.height,
        "merkleroot": root.hex() if root else block.merkle_root,
        "leaf_hash": leaf_hash(data).hex(),
        **proof.as_dict(),
        "verified": root is not None and verify_inclusion(data, proof, root),
    }


# --- experiments -----------------------------------------------------------------------------------------


def _experiment_summary(experiment, rounds_recorded):
    return {**experiment_payload(experiment), "rounds_recorded": rounds_recorded, "url": experiment_page_url(experiment.id)}


def experiment_page(*, before=None, limit):
    experiments = Experiment.objects.annotate(rounds_recorded=Count("round_set")).order_by("-id")
    if before is not None:
        experiments = experiments.filter(id__lt=before)
    page = keyset_page(experiments[: limit + 1], limit=limit, key=lambda experiment: experiment.id)
    return [_experiment_summary(e, e.rounds_recorded) for e in page.items], page.next_key


def experiment_find(experiment_id):
    experiment = Experiment.objects.filter(pk=experiment_id).first()
    if experiment is None:
        raise NotFound(f"There is no experiment {experiment_id}.")
    return experiment


def experiment_detail(experiment):
    rounds = list(experiment.round_set.order_by("number"))
    return {
        **_experiment_summary(experiment, len(rounds)),
        "metrics": [round_payload(row) for row in rounds],
    }


def client_find(experiment, index):
    client = Client.objects.filter(experiment=experiment, index=index).first()
    if client is None:
        raise NotFound(f"Experiment {experiment.id} has no client {index}.")
    return client


def _round_records(experiment_id, numbers):
    """{(round, key): ledger reference} for the main-chain records of these rounds: key is "model" for the
    global model record, the client index for an update record."""
    rows = Record.objects.filter(
        experiment_id=experiment_id, round_number__in=numbers, block__status=MAIN, type__in=("global_model", "client_update")
    ).values_list("round_number", "type", "body", "txid", "block__height", "block__hash")
    found = {}
    for number, kind, body, txid, height, block_hash in rows:
        key = "model" if kind == "global_model" else (record_object(body) or {}).get("client")
        found[(number, key)] = {"txid": txid, "height": height, "blockhash": block_hash}
    return found


def _round_dicts(experiment, rounds, *, updates=None):
    """The rounds with their client updates (default: all of them; else `updates`, ClientUpdate rows)."""
    numbers = [row.number for row in rounds]
    ledger = _round_records(experiment.id, numbers)
    validity = chain_validity()

    def valid(record):
        return None if record is None else stands_valid(record["height"], validity)

    if updates is None:
        updates = ClientUpdate.objects.filter(round__in=rounds).select_related("client").order_by("client__index")
    by_round = {}
    for update in updates:
        by_round.setdefault(update.round_id, []).append(update)
    updates = by_round
    return [
        {
            **round_payload(row),
            "model_url": reverse("api:model", args=[row.global_model_hash]),
            "created_at": row.created_at.isoformat(),
            "record": ledger.get((row.number, "model")),
            "valid": valid(ledger.get((row.number, "model"))),
            "updates": [
                {
                    "client": update.client.index,
                    "samples": update.samples,
                    "update": update.update_hash,
                    "train_loss": update.train_loss,
                    "accepted": update.accepted,
                    "reason": update.reason,
                    "record": ledger.get((row.number, update.client.index)),
                }
                for update in updates.get(row.id, [])
            ],
        }
        for row in rounds
    ]


# A page of rounds stops once it holds this many client updates (but always holds at least one round), so a
# page stays a few megabytes however many clients an experiment has.
ROUND_PAGE_UPDATES = 2000


def experiment_rounds(experiment, *, after=None, limit):
    """(rounds after round `after`, oldest first, at most `limit` of them and about ROUND_PAGE_UPDATES updates,
    the number to pass as `after` for the next page or None on the last)."""
    rows = experiment.round_set.order_by("number")
    if after is not None:
        rows = rows.filter(number__gt=after)
    rows = list(rows.only("id", "number", "clients_sampled")[: limit + 1])
    page, updates = [], 0
    for row in rows[:limit]:
        if page and updates + row.clients_sampled > ROUND_PAGE_UPDATES:
            break
        page.append(row)
        updates += row.clients_sampled
    more = len(page) < len(rows)
    full = Round.objects.filter(pk__in=[row.pk for row in page]).order_by("number")
    return _round_dicts(experiment, list(full)), page[-1].number if more and page else None


def round_find(experiment, number):
    row = Round.objects.filter(experiment=experiment, number=number).first()
    if row is None:
        raise NotFound(f"Experiment {experiment.id} has no recorded round {number}.")
    return row


ROUND_PAGE_CLIENTS = 200


def round_detail(experiment, row, report, *, clients_after=None, limit=ROUND_PAGE_CLIENTS):
    """A round with one keyset page of its updates (clients after index `clients_after`, at most `limit`) and
    `report`, the audit of re-deriving its global model from them (None while it is being computed)."""
    updates = ClientUpdate.objects.filter(round=row).select_related("client").order_by("client__index")
    if clients_after is not None:
        updates = updates.filter(client__index__gt=clients_after)
    page = keyset_page(updates[: limit + 1], limit=limit, key=lambda update: update.client.index)
    (detail,) = _round_dicts(experiment, [row], updates=page.items)
    return {
        **detail,
        "updates_count": ClientUpdate.objects.filter(round=row).count(),
        "clients_after": clients_after,
        "clients_next": page.next_key,
        "audit": report and {"ok": report.ok, "problems": report.problems, "block_height": report.block_height},
        "has_next": Round.objects.filter(experiment=experiment, number=row.number + 1).exists(),
    }


def model_blob(sha256_hex):
    """The stored blob (checked intact, to be read a slice at a time)."""
    blob = blob_open(sha256_hex)
    if blob is None:
        raise NotFound(f"No model or update blob is stored under {sha256_hex}.")
    return blob


# --- search ----------------------------------------------------------------------------------------------


PREFIX_MATCHES = 20


def prefix_matches(prefix, *, limit=PREFIX_MATCHES):
    """Blocks, records and models whose hash starts with `prefix`, at most `limit` of each kind (one more
    tells that there are more): [{kind, hash, url, label}], and whether the list was cut."""
    found, cut = [], False
    kinds = [
        ("block", Block.objects.filter(hash__startswith=prefix).order_by("height"), "hash",
         lambda row: (reverse("explorer:block", args=[row.hash]), f"block {row.height}" + (" (stale)" if row.status == STALE else ""))),
        ("record", Record.objects.filter(txid__startswith=prefix).select_related("block").order_by("id"), "txid",
         lambda row: (reverse("explorer:record", args=[row.txid]), f"{row.type} record in block {row.block.height}")),
        ("global model", Round.objects.filter(global_model_hash__startswith=prefix).order_by("id"), "global_model_hash",
         lambda row: (reverse("experiments:round", args=[row.experiment_id, row.number]), f"global model of experiment {row.experiment_id} round {row.number}")),
        ("client update", ClientUpdate.objects.filter(update_hash__startswith=prefix).select_related("round", "client").order_by("id"), "update_hash",
         lambda row: (reverse("experiments:round", args=[row.round.experiment_id, row.round.number]), f"update of client {row.client.index}, experiment {row.round.experiment_id} round {row.round.number}")),
    ]
    for kind, rows, field, describe in kinds:
        rows = list(rows[: limit + 1])
        cut = cut or len(rows) > limit
        for row in rows[:limit]:
            url, label = describe(row)
            found.append({"kind": kind, "hash": getattr(row, field), "url": url, "label": label})
    return found, cut


def search_destination(kind, value):
    """Where a search goes: the page of the height, block hash, txid or model hash; None if nothing matches."""
    if kind == "height":
        if Block.objects.filter(status=MAIN, height=value).exists():
            return reverse("explorer:block", args=[value])
        return None
    if kind == "prefix":
        found, cut = prefix_matches(value, limit=1)
        return found[0]["url"] if len(found) == 1 and not cut else None
    if kind != "digest":
        return None
    if Block.objects.filter(hash=value).exists():
        return reverse("explorer:block", args=[value])
    if Record.objects.filter(txid=value).exists():
        return reverse("explorer:record", args=[value])
    model_round = Round.objects.filter(global_model_hash=value).values_list("experiment_id", "number").first()
    if model_round is None:
        model_round = ClientUpdate.objects.filter(update_hash=value).values_list(
            "round__experiment_id", "round__number"
        ).first()
    if model_round is not None:
        return reverse("experiments:round", args=model_round)
    return None
