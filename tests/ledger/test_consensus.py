"""Blocks received from peers: validated against their own branch, fork choice by most work, reorganisations
in one transaction with one event."""

import time as clock

import pytest

from apps.events.models import Event
from apps.ledger import consensus, reads, store, watch
from apps.ledger.genesis import BLOCK_VERSION
from apps.ledger.header import BlockHeader, display_hex, sha256d
from apps.ledger.merkle import merkle_root
from apps.ledger.models import Block, Checkpoint, PendingBatch
from apps.ledger.pow import bits_to_target, meets_target, search
from apps.ledger.records import canonical_bytes, coinbase_record
from apps.ledger.retarget import block_bits, median_time_past, required_bits
from apps.ledger.rules import BlockRejected

from .conftest import mine_rounds, model_hash, round_records, submit_round


def build(parent: Block, experiment_id, round_number, *, difficulty_bits=8, records=None, time_offset=0, time=None):
    """A valid block (header bytes, record bytes) on `parent`, whatever branch it is on."""
    tip, _ = consensus.branch_tip(parent)
    params = reads.chain_params()
    height = parent.height + 1
    coinbase = coinbase_record(
        height=height, experiment_id=experiment_id, round_number=round_number,
        parent_model=None if round_number == 0 else model_hash(experiment_id, round_number - 1),
        difficulty_bits=difficulty_bits,
    )
    record_bytes = [canonical_bytes(r) for r in [coinbase, *(records or round_records(experiment_id, round_number))]]
    required = required_bits(height=height, parent_required_bits=tip.required_bits, recent_times=tip.times, params=params)
    header = BlockHeader(
        version=BLOCK_VERSION, prev_hash=tip.digest, merkle_root=merkle_root(record_bytes),
        time=time if time is not None else max(int(clock.time()), median_time_past(tip.times, params.median_time_span) + 1) + time_offset,
        bits=block_bits(required=required, difficulty_bits=difficulty_bits), nonce=0,
    )
    return search(header).header.serialize(), record_bytes


def receive(parent, *args, **kwargs):
    header, records = build(parent, *args, **kwargs)
    return consensus.block_receive(header=header, records=records)


@pytest.fixture
def main_chain(db):
    store.genesis_ensure()
    return mine_rounds(1, 3)  # experiment 1 rounds 0..2 at heights 1..3


def test_a_block_on_the_main_tip_extends_the_chain(main_chain):
    submit_round(1, 3)
    received = receive(main_chain[-1], 1, 3)
    assert received.outcome == "main" and received.block.height == 4
    assert PendingBatch.objects.get(experiment_id=1, round_number=3).status == PendingBatch.Status.MINED
    assert watch.chain_verify().valid
    assert consensus.block_receive(header=received.block.header_bytes, records=build(main_chain[-1], 1, 3)[1]).outcome == "known"


def test_an_equal_work_rival_wins_only_if_it_came_first_then_by_lower_hash(main_chain):
    ours = main_chain[2]
    later = receive(main_chain[1], 1, 2, time=ours.time + 1)
    assert later.outcome == "stale" and store.main_tip().hash == ours.hash  # a later rival loses
    same_time = [build(main_chain[1], 1, 2, time=ours.time, records=round_records(1, 2, clients=k)) for k in (1, 3, 4)]
    ours_value = int.from_bytes(sha256d(ours.header_bytes), "little")
    for header, records in same_time:
        outcome = consensus.block_receive(header=header, records=records).outcome
        tip = store.main_tip()
        value = int.from_bytes(sha256d(header), "little")
        # at the same time, the lower hash wins; once replaced, our tip is the lowest seen so far
        assert outcome == ("reorg" if value < ours_value else "stale"), (outcome, value < ours_value)
        ours_value = min(ours_value, value)
        assert int.from_bytes(sha256d(tip.header_bytes), "little") == ours_value
    assert watch.chain_verify().valid
    assert Block.objects.filter(status="main", height=3).count() == 1


def test_a_heavier_branch_reorganises_in_one_event(main_chain):
    genesis = Block.objects.get(height=0)
    events_before = Event.objects.count()
    branch = [receive(genesis, 2, 0, time_offset=1)]  # after the main chain's block 1: loses the ties
    for number in (1, 2):
        branch.append(receive(branch[-1].block, 2, number))
    assert [r.outcome for r in branch] == ["stale", "stale", "stale"]  # equal work so far: the first seen stays
    batches_before = list(PendingBatch.objects.filter(experiment_id=1).values_list("status", flat=True))
    assert batches_before == ["mined"] * 3
    heavier = receive(branch[-1].block, 2, 3)
    assert heavier.outcome == "reorg"
    main = list(Block.objects.filter(status="main").order_by("height").values_list("hash", flat=True))
    assert main[1:] == [r.block.hash for r in [*branch, heavier]]
    assert set(Block.objects.filter(status="stale").values_list("hash", flat=True)) == {b.hash for b in main_chain}
    # The rounds that left the chain are to be mined again; nothing holds them twice.
    assert set(PendingBatch.objects.filter(experiment_id=1).values_list("status", flat=True)) == {"pending"}
    reorgs = Event.objects.filter(type=Event.Type.REORG)
    assert reorgs.count() == 1
    payload = reorgs.get().payload
    assert payload["fork"]["height"] == 0 and payload["new_tip"]["hash"] == heavier.block.hash
    assert [b["hash"] for b in payload["stale"]] == [b.hash for b in main_chain]
    assert Event.objects.count() - events_before == 3 + 1  # three stale block events, then the reorg alone
    assert sorted(Checkpoint.objects.values_list("height", flat=True)) == [0, 1, 2, 3, 4]
    report = watch.chain_verify()
    assert report.valid and report.last_valid_height == 4, report.first_invalid
    # Experiment 1 goes on from the new tip: its round 0 is minable again.
    assert reads.batch_next().experiment_id == 1


def test_a_branch_is_checked_against_its_own_rounds_not_the_main_chain(main_chain):
    genesis = Block.objects.get(height=0)
    first = receive(genesis, 2, 0).block
    # Round 1 of experiment 1 is on the main chain, but not on this branch: its round 0 must come first.
    with pytest.raises(BlockRejected) as rejected:
        receive(first, 1, 1)
    assert rejected.value.rule == "fl-continuity"
    # Round 0 of experiment 1 is fine on this branch although the main chain has it already.
    assert receive(first, 1, 0).outcome == "stale"


def test_invalid_blocks_are_refused_and_nothing_is_stored(main_chain):
    header, records = build(main_chain[-1], 1, 3)
    stored = Block.objects.count()
    target = bits_to_target(BlockHeader.parse(header).bits)
    for bit in range(32):  # another nonce whose hash misses the target (at 8 bits, 1 nonce in 256 meets it)
        bad = bytearray(header)
        bad[76 + bit // 8] ^= 1 << (bit % 8)
        if not meets_target(sha256d(bytes(bad)), target):
            break
    with pytest.raises(BlockRejected):
        consensus.block_receive(header=bytes(bad), records=records)
    with pytest.raises(BlockRejected) as rejected:
        consensus.block_receive(header=header, records=records[:-1])
    assert rejected.value.rule == "merkle"
    orphan = bytearray(header)
    orphan[4:36] = bytes(32)
    with pytest.raises(BlockRejected) as rejected:
        consensus.block_receive(header=bytes(orphan), records=records)
    assert rejected.value.rule == "link"
    assert Block.objects.count() == stored


def test_headers_after_a_locator_and_their_checks(main_chain):
    locator = consensus.chain_locator()
    assert locator[0] == main_chain[-1].hash and locator[-1] == Block.objects.get(height=0).hash
    genesis = Block.objects.get(height=0)
    headers = consensus.headers_after([genesis.hash])
    assert [display_hex(sha256d(h)) for h in headers] == [
        b.hash for b in main_chain
    ]
    assert consensus.headers_after(["ab" * 32])[0] == genesis.header_bytes  # unknown locator: from genesis
    tips = consensus.headers_check(headers)
    assert [t.height for t in tips] == [1, 2, 3] and tips[-1].chainwork == main_chain[-1].chainwork_int
    forged = bytearray(headers[1])
    forged[4] ^= 1  # breaks the link to the first header
    with pytest.raises(BlockRejected) as rejected:
        consensus.headers_check([headers[0], bytes(forged)])
    assert rejected.value.height == 2


def _taken_off(blocks):
    """The blocks as a peer would send them, then gone from this node (as if it never had them)."""
    sent = []
    for block in blocks:
        stored, header, records = consensus.block_bytes(block.hash)
        sent.append(consensus.PeerBlock(header, records, stored.mined_by, stored.mined_signature))
    heights = [block.height for block in blocks]
    PendingBatch.objects.filter(block__height__in=heights).update(status=PendingBatch.Status.PENDING, block=None)
    Checkpoint.objects.filter(height__in=heights).delete()
    Event.objects.filter(type="block").delete()
    for block in reversed(blocks):
        block.records.all().delete()
        block.delete()
    return sent


def test_a_run_of_blocks_on_the_main_tip_is_stored_in_one_go_as_one_by_one(main_chain):
    sent = _taken_off(mine_rounds(1, 4, start=3))  # heights 4..7
    received = consensus.blocks_receive(sent)
    assert [r.outcome for r in received] == ["main"] * 4 and store.main_tip().height == 7
    assert [r.block.header_bytes for r in received] == [bytes(b.header) for b in sent]
    assert all(r.block.mined_by for r in received)  # the miner's signed claim kept
    assert PendingBatch.objects.filter(status=PendingBatch.Status.MINED).count() == 7
    assert set(Checkpoint.objects.values_list("height", flat=True)) == set(range(8))
    assert Event.objects.filter(type="block").count() == 4
    assert watch.chain_verify().valid
    assert [r.outcome for r in consensus.blocks_receive(sent)] == ["known"] * 4


def test_a_run_stops_at_an_invalid_block_keeping_the_valid_ones_before_it(main_chain):
    sent = _taken_off(mine_rounds(1, 3, start=3))  # heights 4..6
    sent[1] = consensus.PeerBlock(sent[1].header, sent[2].records)  # records its header does not commit
    with pytest.raises(BlockRejected):
        consensus.blocks_receive(sent)
    assert store.main_tip().height == 4 and watch.chain_verify().valid


def test_a_run_on_a_branch_goes_block_by_block(main_chain):
    header, records = build(main_chain[1], 1, 2, time=main_chain[2].time + 1)  # a later rival of height 3
    assert [r.outcome for r in consensus.blocks_receive([consensus.PeerBlock(header, records)])] == ["stale"]
    assert store.main_tip().hash == main_chain[2].hash
