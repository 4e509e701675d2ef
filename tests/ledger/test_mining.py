"""The miner: follows the moving tip, survives races, and reports its progress about once a second."""

import threading
import time

import pytest
from django.db import connection

from apps.events.models import Event
from apps.federated.services import experiment_create, experiment_run_round
from apps.ledger.models import Block, PendingBatch
from apps.ledger.pow import search
from apps.ledger.store import block_mine, block_template
from apps.ledger.watch import chain_verify
from apps.ledger import mining
from apps.ledger.mining import MiningProgress, batch_mine_to_chain

pytestmark = pytest.mark.django_db(transaction=True)


def recorded_batch(**settings):
    experiment = experiment_create(**{"dataset": "iris", "clients": 2, "rounds": 1, **settings})
    experiment_run_round(experiment=experiment, number=0)
    return PendingBatch.objects.get(experiment_id=experiment.id, round_number=0)


def test_mining_progress_is_reported_about_once_a_second():
    batch = recorded_batch(difficulty_bits=8)
    header, records = block_template(batch=batch)
    progress = MiningProgress(batch)
    started = time.monotonic()
    # An unreachable target: the search runs until stopped, reporting as it goes.
    search(header, target=0, should_stop=lambda: time.monotonic() - started > 3.5,
           on_progress=lambda report: progress({**report, "height": records[0]["height"]}))

    events = list(Event.objects.filter(type="mining_progress"))
    assert 2 <= len(events) <= 3
    gaps = [(later.created_at - earlier.created_at).total_seconds() for earlier, later in zip(events, events[1:])]
    assert all(0.9 < gap < 2.5 for gap in gaps), gaps  # about once a second, never more often
    first, second = (event.payload for event in events[:2])
    assert first.keys() == {"experiment", "round", "height", "nonces", "expected", "hash_rate", "worker"}
    assert (first["experiment"], first["round"], first["height"]) == (batch.experiment_id, 0, 1)
    assert 0 < first["nonces"] < second["nonces"] and first["hash_rate"] > 0
    assert first["expected"] == 2.0**256  # the work the target asks for: 2**256 / (target + 1)
    assert events[0].experiment_id == batch.experiment_id


def test_a_miner_whose_tip_moves_starts_over_on_the_new_tip(monkeypatch):
    monkeypatch.setattr(mining, "TIP_CHECK_SECONDS", 0)
    slow = recorded_batch(difficulty_bits=24)  # about 16 million hashes: not found before the tip moves
    fast = recorded_batch(difficulty_bits=8)
    polls, other = [], []

    def another_miner_wins_meanwhile():
        polls.append(time.monotonic())
        if len(polls) == 2:  # the first poll inside the search
            other.append(block_mine(batch=fast))
            # Only so that the search on the new tip ends quickly.
            PendingBatch.objects.filter(pk=slow.pk).update(difficulty_bits=8)
        return False

    block = batch_mine_to_chain(batch=slow, should_stop=another_miner_wins_meanwhile)

    assert block.status == Block.Status.MAIN and other[0].status == Block.Status.MAIN
    assert (block.height, block.prev_hash) == (other[0].height + 1, other[0].hash)
    assert not Block.objects.filter(status=Block.Status.STALE).exists()  # it stopped before it could lose a race
    assert chain_verify().valid


def test_miners_racing_for_the_same_heights_each_put_their_batch_on_the_chain_once():
    batches = [recorded_batch(difficulty_bits=12, seed=seed) for seed in range(4)]
    errors = []

    def mine(batch):
        try:
            batch_mine_to_chain(batch=batch)
        except Exception as error:  # reported below, in the test's thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=mine, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    main = list(Block.objects.filter(status=Block.Status.MAIN).exclude(height=0).order_by("height"))
    assert [block.height for block in main] == [1, 2, 3, 4]  # one winner per height
    assert sorted(block.experiment_id for block in main) == sorted(batch.experiment_id for batch in batches)
    stale = Block.objects.filter(status=Block.Status.STALE)
    assert set(stale.values_list("experiment_id", flat=True)) <= {batch.experiment_id for batch in batches}
    assert not PendingBatch.objects.filter(status=PendingBatch.Status.PENDING).exists()
    assert chain_verify().valid
