"""The pure rule engine on chains mined in memory: continuity across experiments, limits, the report."""

from apps.ledger.genesis import BLOCK_VERSION, genesis_block
from apps.ledger.header import BlockHeader, display_hex, sha256d
from apps.ledger.merkle import merkle_root
from apps.ledger.params import ChainParams
from apps.ledger.pow import search
from apps.ledger.records import canonical_bytes, coinbase_record, experiment_record
from apps.ledger.retarget import block_bits, required_bits
from apps.ledger.rules import BlockData, ChainWalker, Rules, verify_blocks

from .conftest import model_hash, round_records

PARAMS = ChainParams(retarget_interval=5, max_block_records=12, max_record_bytes=1024)
NOW = 1_800_000_000


class PureChain:
    """Mines blocks in memory with the pure core only, valid or not (as an attacker could)."""

    def __init__(self):
        genesis = genesis_block(PARAMS)
        self.blocks = [BlockData(0, genesis.header_bytes, genesis.record_bytes)]
        self.digest, self.required, self.times = genesis.digest, PARAMS.pow_limit_compact, [genesis.header.time]
        self.time = NOW - 10_000

    def add(self, experiment_id, round_number, *, records=None, parent_model="auto", difficulty_bits=8, time=None):
        height = len(self.blocks)
        if parent_model == "auto":
            parent_model = None if round_number == 0 else model_hash(experiment_id, round_number - 1)
        coinbase = coinbase_record(
            height=height, experiment_id=experiment_id, round_number=round_number,
            parent_model=parent_model, difficulty_bits=difficulty_bits,
        )
        if records is None:
            records = round_records(experiment_id, round_number)
        body = [canonical_bytes(r) for r in [coinbase, *records]]
        self.required = required_bits(
            height=height, parent_required_bits=self.required, recent_times=self.times, params=PARAMS
        )
        self.time += 1
        header = BlockHeader(
            BLOCK_VERSION, self.digest, merkle_root(body), time or self.time,
            block_bits(required=self.required, difficulty_bits=difficulty_bits), 0,
        )
        raw = search(header).header.serialize()
        self.blocks.append(BlockData(height, raw, body))
        self.digest = sha256d(raw)
        self.times.append(header.time)

    def verify(self):
        return verify_blocks(self.blocks, ChainWalker(Rules(PARAMS, now=NOW)))

    def first_invalid(self):
        report = self.verify()
        assert not report.valid
        return report.first_invalid.height, report.first_invalid.rule


def test_interleaved_experiments_with_retargets_verify():
    chain = PureChain()
    for round_number in range(6):
        chain.add(1, round_number)
        chain.add(2, round_number, difficulty_bits=9)
    report = chain.verify()
    assert report.valid, report.first_invalid
    assert (report.last_valid_height, report.blocks_checked) == (12, 13)
    assert report.last_valid_hash == display_hex(chain.digest)


def test_the_report_names_the_first_invalid_block_and_stops_there():
    chain = PureChain()
    chain.add(1, 0)
    chain.add(1, 1)
    chain.add(1, 3)  # round 2 skipped
    chain.add(1, 4)
    report = chain.verify()
    assert report.first_invalid.as_dict()["height"] == 3
    assert report.first_invalid.rule == "fl-continuity"
    assert "next round is 2" in report.first_invalid.message
    assert (report.last_valid_height, report.blocks_checked) == (2, 3)  # the valid prefix


def test_a_round_twice_is_refused():
    chain = PureChain()
    chain.add(1, 0)
    chain.add(2, 0)
    chain.add(1, 0, parent_model=None)
    assert chain.first_invalid() == (3, "fl-continuity")


def test_a_round_must_commit_the_previous_rounds_global_model():
    chain = PureChain()
    chain.add(1, 0)
    chain.add(1, 1, parent_model=model_hash(9, 9))
    assert chain.first_invalid() == (2, "fl-continuity")


def test_an_experiment_starts_at_round_zero_with_its_experiment_record():
    chain = PureChain()
    chain.add(1, 1, parent_model=None)
    assert chain.first_invalid() == (1, "fl-continuity")
    chain = PureChain()
    chain.add(1, 0, records=round_records(1, 1))  # round 1's records: no experiment record, wrong round
    assert chain.first_invalid() == (1, "records")
    chain = PureChain()
    chain.add(1, 0, records=round_records(1, 0)[1:])  # without its experiment record
    assert chain.first_invalid() == (1, "fl-continuity")


def test_only_round_zero_carries_the_experiment_record():
    chain = PureChain()
    chain.add(1, 0)
    chain.add(1, 1, records=[experiment_record(experiment_id=1, config={}), *round_records(1, 1)])
    assert chain.first_invalid() == (2, "fl-continuity")


def test_a_round_commits_exactly_one_global_model():
    chain = PureChain()
    chain.add(1, 0, records=[r for r in round_records(1, 0) if r["type"] != "global_model"])
    assert chain.first_invalid() == (1, "fl-continuity")


def test_record_limits_types_and_membership():
    for records, rule in [
        (round_records(1, 0) + [{"type": "mystery", "experiment": 1}], "records"),
        (round_records(1, 0) + [{"type": "reward", "experiment": 1, "round": 0}], "records"),  # lacks client, amount
        (round_records(1, 0) + [{"type": "reward", "experiment": 1, "round": 0, "client": "x" * 2000, "amount": 1}], "records"),
        (round_records(1, 0) + [dict(round_records(2, 0)[1])], "records"),  # another experiment's update
        (round_records(1, 0, clients=12), "records"),  # above max_block_records
        (round_records(1, 0) + [coinbase_record(height=1, experiment_id=1, round_number=0, parent_model=None, difficulty_bits=9)], "coinbase"),
    ]:
        chain = PureChain()
        chain.add(1, 0, records=records)
        assert chain.first_invalid() == (1, rule), records[-1]


def test_time_must_pass_the_median_and_not_run_ahead():
    chain = PureChain()
    for round_number in range(6):
        chain.add(1, round_number)
    chain.add(1, 6, time=chain.times[-6])  # the median of the last 11 blocks, not after it
    assert chain.first_invalid() == (7, "time")
    chain = PureChain()
    chain.add(1, 0, time=NOW + 2 * 3600 + 1)
    assert chain.first_invalid() == (1, "time")


def test_heights_must_follow_each_other():
    chain = PureChain()
    chain.add(1, 0)
    chain.add(1, 1)
    gap = [chain.blocks[0], chain.blocks[2]]
    report = verify_blocks(gap, ChainWalker(Rules(PARAMS, now=NOW)))
    assert (report.first_invalid.height, report.first_invalid.rule) == (1, "height")
    repeated = [chain.blocks[0], chain.blocks[1], chain.blocks[1]]
    report = verify_blocks(repeated, ChainWalker(Rules(PARAMS, now=NOW)))
    assert (report.first_invalid.height, report.first_invalid.rule) == (2, "height")
    report = verify_blocks([], ChainWalker(Rules(PARAMS, now=NOW)))
    assert (report.valid, report.first_invalid.rule) == (False, "genesis")


def test_genesis_is_the_same_everywhere_and_depends_only_on_the_chain_parameters():
    assert genesis_block(ChainParams()) == genesis_block(ChainParams())
    assert genesis_block(ChainParams()).hash_hex != genesis_block(ChainParams(pow_limit_bits=9)).hash_hex
    assert genesis_block(ChainParams()).header.time == 1735689600
