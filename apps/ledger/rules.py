"""The rule engine: checks blocks in height order and names the first violation (height, rule, message).

A block is checked against a small summary of the valid chain before it (`ChainTip`: parent digest, required
bits, cumulative work, the last few block times) and a lookup of its experiment's last round, so checking one
new block costs the same at height 100 as at height 100,000. Checks run in this order, so a report names the
most basic thing that is wrong:

    height, header, hash, genesis, link, pow, merkle, records, coinbase, difficulty, time, fl-continuity,
    stored-fields, checkpoint

No stored hash is trusted: digests, Merkle roots, work and difficulty are all recomputed from the header and
record bytes. `stored` values (columns a database keeps beside the bytes for display) are compared with what
the bytes say.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .genesis import genesis_block
from .header import BlockHeader, display_hex, sha256d
from .merkle import merkle_root
from .params import ChainParams
from .pow import block_work, bits_to_target
from .records import (
    COINBASE,
    EXPERIMENT,
    GLOBAL_MODEL,
    RECORD_TYPES,
    REQUIRED_FIELDS,
    is_sha256_hex,
    parse_canonical,
    parse_record,
    txid_of_bytes,
)
from .retarget import block_bits, median_time_past, required_bits

RULES = {
    "height": "blocks follow each other at consecutive heights from 0, one per height",
    "header": "the stored header is exactly 80 bytes",
    "hash": "the block hash is the SHA-256d of its header",
    "genesis": "block 0 is the fixed genesis block",
    "link": "each header commits its parent's hash",
    "pow": "the hash meets the header's target, which is valid and within the pow limit",
    "merkle": "the header's Merkle root is the RFC 6962 root of the block's records",
    "records": "records are canonical JSON objects of known types, within limits, without duplicates, "
    "all of the block's experiment round",
    "coinbase": "the first record, and only it, is the coinbase, committing the block's height",
    "difficulty": "bits are the harder of the retarget rule's target and the experiment's difficulty",
    "time": "time is after the median of the previous 11 blocks and at most 2 hours ahead",
    "fl-continuity": "an experiment's rounds appear in order, once each, each committing its parent model",
    "stored-fields": "values stored beside the block bytes agree with them",
    "checkpoint": "each block's hash at its height is signed with the checkpoint key",
}


@dataclass(frozen=True)
class Violation:
    height: int
    rule: str
    message: str

    def as_dict(self) -> dict:
        return {"height": self.height, "rule": self.rule, "message": self.message}

    def __str__(self):
        return f"block {self.height} breaks rule '{self.rule}': {self.message}"


class BlockRejected(Exception):
    """A block breaks a chain rule."""

    def __init__(self, rule: str, message: str, height: int | None = None):
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.height = height

    @property
    def violation(self) -> Violation:
        return Violation(self.height, self.rule, self.message)

    def __str__(self):
        where = f"block {self.height}" if self.height is not None else "block"
        return f"{where} breaks rule '{self.rule}': {self.message}"


@dataclass(frozen=True)
class BlockData:
    """A block as stored or exported: what the rules check."""

    height: int
    header: bytes
    records: Sequence[bytes]  # canonical record bytes in Merkle-leaf order
    hash_hex: str | None = None  # the hash stored or exported beside the header, if any
    stored: Mapping | None = None  # other stored values to compare (see CheckedBlock.columns)
    checkpoint: tuple[str, str] | None = None  # (hash_hex, signature) signed for this height
    # True only for a block being built here from records that `canonical_bytes` has just encoded: their
    # canonical form is then known and not derived a second time. Stored or received bytes leave it False.
    canonical: bool = False


@dataclass(frozen=True)
class ChainTip:
    """What checking the next block needs to know about the valid chain up to here."""

    height: int
    digest: bytes
    required_bits: int
    chainwork: int
    times: tuple[int, ...]  # the latest block times, oldest first, ending with this block's


@dataclass(frozen=True)
class CheckedBlock:
    height: int
    header: BlockHeader
    digest: bytes
    required_bits: int
    chainwork: int
    records: tuple[dict, ...]
    txids: tuple[str, ...]
    experiment_id: int | None
    round_number: int | None
    difficulty_bits: int
    global_model: str | None
    record_bytes: tuple[bytes, ...] = ()  # the canonical bytes the records were checked as (what a store keeps)

    @property
    def hash_hex(self) -> str:
        return display_hex(self.digest)

    def columns(self) -> dict:
        """Values a store may keep beside the bytes, as the bytes say they must be."""
        return {
            "hash": self.hash_hex,
            "prev_hash": display_hex(self.header.prev_hash),
            "merkle_root": self.header.merkle_root.hex(),
            "version": self.header.version,
            "time": self.header.time,
            "bits": self.header.bits,
            "nonce": self.header.nonce,
            "required_bits": self.required_bits,
            "chainwork": self.chainwork,
            "records_count": len(self.records),
            "experiment_id": self.experiment_id,
            "round_number": self.round_number,
            "difficulty_bits": self.difficulty_bits,
            "record_columns": [
                [txid, record["type"], record.get("experiment"), record.get("round")]
                for txid, record in zip(self.txids, self.records)
            ],
        }

    def tip(self, previous: ChainTip | None, params: ChainParams) -> ChainTip:
        times = (*(previous.times if previous else ()), self.header.time)[-params.time_window :]
        return ChainTip(self.height, self.digest, self.required_bits, self.chainwork, times)


# (last round number, its global model hash) of an experiment on the chain before a block, or None.
ExperimentLookup = Callable[[int], "tuple[int, str] | None"]
CheckpointCheck = Callable[[int, str, str], bool]


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Rules:
    def __init__(self, params: ChainParams, *, now: int, checkpoint_check: CheckpointCheck | None = None):
        """now: the time future timestamps are measured against. checkpoint_check(height, hash_hex, signature):
        when given, every block must carry a checkpoint it accepts."""
        self.params = params
        self.now = now
        self.checkpoint_check = checkpoint_check
        self.genesis = genesis_block(params)

    def check(self, block: BlockData, tip: ChainTip | None, experiment_tip: ExperimentLookup) -> CheckedBlock:
        """Checks `block` as the successor of `tip` (None: the block must be genesis); raises BlockRejected."""
        expected_height = 0 if tip is None else tip.height + 1
        if block.height != expected_height:
            if not isinstance(block.height, int):
                message = f"block {expected_height} is missing: the next block's height is {block.height!r}"
            elif block.height > expected_height:
                message = f"block {expected_height} is missing: the next block has height {block.height}"
            else:
                message = f"a block claims height {block.height} again after block {expected_height - 1}"
            raise BlockRejected("height", message, expected_height)
        try:
            checked = self._check(block, tip, experiment_tip)
        except BlockRejected as rejected:
            rejected.height = block.height
            raise
        return checked

    def _check(self, block, tip, experiment_tip) -> CheckedBlock:
        height = block.height
        try:
            header = BlockHeader.parse(block.header)
        except ValueError as error:
            raise BlockRejected("header", str(error)) from None
        digest = sha256d(bytes(block.header))
        hash_hex = display_hex(digest)
        if block.hash_hex is not None and block.hash_hex != hash_hex:
            raise BlockRejected("hash", f"the stored hash {block.hash_hex} is not the header's SHA-256d {hash_hex}")
        if tip is None:
            checked = self._check_genesis(block, header, digest)
        else:
            checked = self._check_successor(block, header, digest, tip, experiment_tip)
        if block.stored:
            columns = checked.columns()
            for name, value in block.stored.items():
                if columns[name] != value:
                    raise BlockRejected(
                        "stored-fields", f"stored {name} {value!r} disagrees with the block bytes ({columns[name]!r})"
                    )
        if self.checkpoint_check is not None:
            if block.checkpoint is None:
                raise BlockRejected("checkpoint", f"no signed checkpoint for height {height}")
            signed_hash, signature = block.checkpoint
            if signed_hash != hash_hex:
                raise BlockRejected(
                    "checkpoint", f"the checkpoint signed for height {height} names block {signed_hash}, not {hash_hex}"
                )
            if not self.checkpoint_check(height, signed_hash, signature):
                raise BlockRejected(
                    "checkpoint", f"the checkpoint signature for height {height} does not verify with the checkpoint key"
                )
        return checked

    def _check_genesis(self, block, header, digest) -> CheckedBlock:
        genesis = self.genesis
        if bytes(block.header) != genesis.header_bytes:
            raise BlockRejected(
                "genesis", f"block 0 is {display_hex(digest)}, the fixed genesis block is {genesis.hash_hex}"
            )
        if tuple(bytes(r) for r in block.records) != genesis.record_bytes:
            raise BlockRejected("genesis", "block 0's records are not the fixed genesis coinbase")
        return CheckedBlock(
            height=0,
            header=header,
            digest=digest,
            required_bits=self.params.pow_limit_compact,
            chainwork=block_work(header.bits),
            records=genesis.records,
            txids=tuple(txid_of_bytes(r) for r in genesis.record_bytes),
            experiment_id=None,
            round_number=None,
            difficulty_bits=self.params.pow_limit_bits,
            global_model=None,
            record_bytes=genesis.record_bytes,
        )

    def _check_successor(self, block, header, digest, tip, experiment_tip) -> CheckedBlock:
        params = self.params
        height = block.height
        if header.prev_hash != tip.digest:
            raise BlockRejected(
                "link",
                f"the header's previous hash {display_hex(header.prev_hash)} is not block {tip.height}'s hash "
                f"{display_hex(tip.digest)}",
            )
        self._check_pow(header, digest)
        record_bytes = [bytes(r) for r in block.records]
        if merkle_root(record_bytes) != header.merkle_root:
            raise BlockRejected(
                "merkle", f"the header's Merkle root {header.merkle_root.hex()} is not the root of the block's records"
            )
        records, txids = self._parse_records(record_bytes, canonical=block.canonical)
        coinbase = self._check_coinbase(records, height)
        experiment_id, round_number = coinbase["experiment"], coinbase["round"]
        self._check_membership(records, experiment_id, round_number)
        required = required_bits(
            height=height, parent_required_bits=tip.required_bits, recent_times=tip.times, params=params
        )
        expected_bits = block_bits(required=required, difficulty_bits=coinbase["difficulty_bits"])
        if header.bits != expected_bits:
            raise BlockRejected(
                "difficulty",
                f"bits are {header.bits:#010x}; the chain requires {required:#010x} and the experiment asked for "
                f"{coinbase['difficulty_bits']} zero bits, so they must be {expected_bits:#010x}",
            )
        mtp = median_time_past(tip.times, params.median_time_span)
        if header.time <= mtp:
            raise BlockRejected("time", f"time {header.time} is not after the median of the previous blocks ({mtp})")
        if header.time > self.now + params.max_future_seconds:
            raise BlockRejected(
                "time", f"time {header.time} is more than {params.max_future_seconds} s ahead of now ({self.now})"
            )
        global_model = self._check_continuity(records, coinbase, experiment_tip(experiment_id))
        return CheckedBlock(
            height=height,
            header=header,
            digest=digest,
            required_bits=required,
            chainwork=tip.chainwork + block_work(header.bits),
            records=tuple(records),
            txids=tuple(txids),
            experiment_id=experiment_id,
            round_number=round_number,
            difficulty_bits=coinbase["difficulty_bits"],
            global_model=global_model,
            record_bytes=tuple(record_bytes),
        )

    def check_header(self, raw: bytes, tip: ChainTip) -> ChainTip:
        """The checks a header alone allows (headers-first sync): link, proof of work, difficulty at least what
        the retarget rule requires (the experiment's own difficulty is in the coinbase, checked with the
        block), and time. Returns the summary of the chain up to it; raises BlockRejected at its height."""
        height = tip.height + 1
        try:
            header = BlockHeader.parse(raw)
            digest = sha256d(bytes(raw))
            if header.prev_hash != tip.digest:
                raise BlockRejected(
                    "link", f"the header's previous hash {display_hex(header.prev_hash)} is not block {tip.height}'s"
                )
            self._check_pow(header, digest)
            required = required_bits(
                height=height, parent_required_bits=tip.required_bits, recent_times=tip.times, params=self.params
            )
            if bits_to_target(header.bits) > bits_to_target(required):
                raise BlockRejected(
                    "difficulty", f"bits {header.bits:#010x} are easier than the {required:#010x} the chain requires"
                )
            mtp = median_time_past(tip.times, self.params.median_time_span)
            if not mtp < header.time <= self.now + self.params.max_future_seconds:
                raise BlockRejected("time", f"time {header.time} is not after {mtp} or too far ahead of {self.now}")
        except ValueError as error:
            raise BlockRejected("header", str(error), height) from None
        except BlockRejected as rejected:
            rejected.height = height
            raise
        times = (*tip.times, header.time)[-self.params.time_window :]
        return ChainTip(height, digest, required, tip.chainwork + block_work(header.bits), times)

    def check_round_contents(self, record_bytes: Sequence[bytes], *, height: int, previous, canonical=False) -> str:
        """The content checks alone (records, coinbase, fl-continuity) of a would-be block at `height` whose
        experiment's previous round is `previous`: lets a round's records be refused before anyone mines them.
        `canonical` as in BlockData. Returns the round's global model hash."""
        try:
            records, _ = self._parse_records(record_bytes, canonical=canonical)
            coinbase = self._check_coinbase(records, height)
            self._check_membership(records, coinbase["experiment"], coinbase["round"])
            return self._check_continuity(records, coinbase, previous)
        except BlockRejected as rejected:
            rejected.height = height
            raise

    def _check_pow(self, header, digest):
        try:
            target = bits_to_target(header.bits)
        except ValueError as error:
            raise BlockRejected("pow", str(error)) from None
        if target == 0 or target > self.params.pow_limit:
            raise BlockRejected(
                "pow", f"bits {header.bits:#010x} give a target outside 1..the pow limit ({self.params.pow_limit_bits} zero bits)"
            )
        if int.from_bytes(digest, "little") > target:
            raise BlockRejected("pow", f"the hash {display_hex(digest)} is above the target of bits {header.bits:#010x}")

    def _parse_records(self, record_bytes, *, canonical):
        params = self.params
        parse = parse_record if canonical else parse_canonical
        if not 1 <= len(record_bytes) <= params.max_block_records:
            raise BlockRejected(
                "records", f"a block holds 1 to {params.max_block_records} records, this one {len(record_bytes)}"
            )
        records, txids, seen = [], [], set()
        for position, data in enumerate(record_bytes):
            if len(data) > params.max_record_bytes:
                raise BlockRejected(
                    "records", f"record {position} is {len(data)} bytes, above the {params.max_record_bytes} limit"
                )
            try:
                record = parse(data)
            except ValueError as error:
                raise BlockRejected("records", f"record {position} is not a canonical JSON record: {error}") from None
            kind = record["type"]
            if kind not in RECORD_TYPES:
                raise BlockRejected("records", f"record {position} has unknown type {kind!r}")
            missing = [name for name in REQUIRED_FIELDS[kind] if name not in record]
            if missing:
                raise BlockRejected("records", f"record {position} ({kind}) lacks {', '.join(missing)}")
            txid = txid_of_bytes(data)
            if txid in seen:
                raise BlockRejected("records", f"record {position} repeats an earlier record of the block ({txid})")
            seen.add(txid)
            records.append(record)
            txids.append(txid)
        return records, txids

    def _check_coinbase(self, records, height) -> dict:
        coinbase = records[0]
        if coinbase["type"] != COINBASE:
            raise BlockRejected("coinbase", f"the first record is a {coinbase['type']} record, not the coinbase")
        if any(record["type"] == COINBASE for record in records[1:]):
            raise BlockRejected("coinbase", "a block has exactly one coinbase record")
        if coinbase["height"] != height:
            raise BlockRejected("coinbase", f"the coinbase commits height {coinbase['height']!r}, not {height}")
        experiment_id, round_number = coinbase["experiment"], coinbase["round"]
        if not (_integer(experiment_id) and experiment_id >= 0 and _integer(round_number) and round_number >= 0):
            raise BlockRejected(
                "coinbase", f"the coinbase names experiment {experiment_id!r} round {round_number!r}: both must be integers >= 0"
            )
        if coinbase["parent_model"] is not None and not is_sha256_hex(coinbase["parent_model"]):
            raise BlockRejected("coinbase", f"parent_model {coinbase['parent_model']!r} is not a SHA-256 hex digest")
        difficulty_bits = coinbase["difficulty_bits"]
        if not (_integer(difficulty_bits) and 0 <= difficulty_bits <= 255):
            raise BlockRejected("coinbase", f"difficulty_bits {difficulty_bits!r} is not an integer from 0 to 255")
        return coinbase

    def _check_membership(self, records, experiment_id, round_number):
        # With each round on the chain once (fl-continuity), this also makes every record unique chain-wide.
        for position, record in enumerate(records[1:], start=1):
            if record["experiment"] != experiment_id or (
                "round" in REQUIRED_FIELDS[record["type"]] and record["round"] != round_number
            ):
                raise BlockRejected(
                    "records",
                    f"record {position} ({record['type']}) belongs to experiment {record['experiment']!r} round "
                    f"{record.get('round')!r}, the block to experiment {experiment_id} round {round_number}",
                )

    def _check_continuity(self, records, coinbase, previous) -> str:
        experiment_id, round_number = coinbase["experiment"], coinbase["round"]
        experiments = [r for r in records if r["type"] == EXPERIMENT]
        models = [r for r in records if r["type"] == GLOBAL_MODEL]
        if previous is None:
            if round_number != 0:
                raise BlockRejected(
                    "fl-continuity", f"experiment {experiment_id} starts at round {round_number}, not round 0"
                )
            if coinbase["parent_model"] is not None:
                raise BlockRejected("fl-continuity", "round 0 has no parent model: parent_model must be null")
            if len(experiments) != 1 or not isinstance(experiments[0]["config"], dict):
                raise BlockRejected(
                    "fl-continuity", f"round 0 of experiment {experiment_id} must commit exactly one experiment record"
                )
        else:
            last_round, last_model = previous
            if round_number != last_round + 1:
                raise BlockRejected(
                    "fl-continuity",
                    f"experiment {experiment_id} round {round_number} follows round {last_round} on the chain; "
                    f"the next round is {last_round + 1}",
                )
            if coinbase["parent_model"] != last_model:
                raise BlockRejected(
                    "fl-continuity",
                    f"round {round_number} commits parent model {coinbase['parent_model']}, but round {last_round}'s "
                    f"global model is {last_model}",
                )
            if experiments:
                raise BlockRejected("fl-continuity", "only an experiment's round 0 carries its experiment record")
        if len(models) != 1 or not is_sha256_hex(models[0]["model"]):
            raise BlockRejected(
                "fl-continuity", f"a round commits exactly one global model (a SHA-256 hex digest), found {len(models)}"
            )
        return models[0]["model"]


@dataclass
class ChainReport:
    """What a check of a stored chain found. Field names say what each height is, so none reads as another:
    `untrusted_from_height` is where the local chain stops being trustworthy (its first invalid or missing
    block; everything from there up is suspect), `last_valid_height` the top of the valid prefix below it."""

    valid: bool
    last_valid_height: int  # the highest block of the valid prefix (-1: none)
    last_valid_hash: str | None
    last_valid_chainwork: int
    blocks_checked: int
    first_invalid: Violation | None = None
    checked_from_height: int = 0  # below it nothing was checked by this report
    stored_tip_height: int | None = None  # the highest main block stored (None: not read, or none)
    not_checked: str | None = None  # what this check did not cover, in words (None: the whole chain)

    @property
    def untrusted_from_height(self) -> int | None:
        return self.first_invalid.height if self.first_invalid else None

    def as_dict(self) -> dict:
        return {
            "valid": self.valid,
            "untrusted_from_height": self.untrusted_from_height,
            "first_invalid": self.first_invalid.as_dict() if self.first_invalid else None,
            "last_valid_height": self.last_valid_height,
            "last_valid_hash": self.last_valid_hash,
            "last_valid_chainwork": f"{self.last_valid_chainwork:064x}",
            "stored_tip_height": self.stored_tip_height,
            "checked_from_height": self.checked_from_height,
            "blocks_checked": self.blocks_checked,
            "not_checked": self.not_checked,
        }


@dataclass
class ChainWalker:
    """Checks a chain block by block in height order, keeping only the summary the next check needs."""

    rules: Rules
    tip: ChainTip | None = None
    experiments: dict = field(default_factory=dict)  # experiment id -> (last round, its global model)
    blocks_checked: int = 0

    def add(self, block: BlockData) -> CheckedBlock:
        checked = self.rules.check(block, self.tip, self.experiments.get)
        self.tip = checked.tip(self.tip, self.rules.params)
        if checked.experiment_id is not None:
            self.experiments[checked.experiment_id] = (checked.round_number, checked.global_model)
        self.blocks_checked += 1
        return checked

    def report(self, violation: Violation | None = None, **context) -> ChainReport:
        """The report of what was walked; `context`: ChainReport's other fields (where the check started...)."""
        tip = self.tip
        return ChainReport(
            valid=violation is None,
            last_valid_height=tip.height if tip else -1,
            last_valid_hash=display_hex(tip.digest) if tip else None,
            last_valid_chainwork=tip.chainwork if tip else 0,
            blocks_checked=self.blocks_checked,
            first_invalid=violation,
            **context,
        )


def verify_blocks(blocks: Iterable[BlockData], walker: ChainWalker) -> ChainReport:
    """Checks blocks in order with `walker` (fresh for a whole chain) and reports the first violation."""
    for block in blocks:
        try:
            walker.add(block)
        except BlockRejected as rejected:
            return walker.report(rejected.violation)
    if walker.tip is None:
        return walker.report(Violation(0, "genesis", "the chain has no blocks, not even the genesis block"))
    return walker.report()
