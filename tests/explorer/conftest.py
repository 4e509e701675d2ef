"""Chains for the explorer's tests, built through the ledger's and the federated app's own services (mined at
the lowest difficulty), never by writing rows by hand; only the invalid chain is tampered with, through SQL."""

import dataclasses
import json

import pytest
from django.db import connection

from apps.events.models import Event
from apps.events.services import event_emit
from apps.federated.selectors import round_batch
from apps.federated.services import experiment_create, experiment_run, experiment_run_round
from apps.ledger.models import Block, Checkpoint, Record
from apps.ledger.pow import search
from apps.ledger.store import block_append, block_mine, block_template, genesis_ensure
from apps.ledger.watch import ChainWatcher, chain_status_payload

SMALL_EXPERIMENT = {
    "name": "iris trio",
    "dataset": "iris",
    "clients": 3,
    "rounds": 2,
    "difficulty_bits": 8,
    "baseline": False,
}


def run_experiment(**settings):
    """An experiment run to its end in this process: every round recorded and mined into a block."""
    experiment = experiment_create(**{**SMALL_EXPERIMENT, **settings})
    return experiment_run(experiment=experiment)


def check_whole_chain():
    """What `watch_chain` does continuously: re-check the stored chain and publish the verdict."""
    report = ChainWatcher().check()
    event_emit(type=Event.Type.CHAIN_STATUS, payload=chain_status_payload(report))
    return report


@pytest.fixture
def empty_chain(db):
    """A database without blocks: migrate stores the genesis block, so it is taken out again."""
    Checkpoint.objects.all().delete()
    Record.objects.all().delete()
    Block.objects.all().delete()


@pytest.fixture
def genesis_only(db):
    return genesis_ensure()


@pytest.fixture
def experiment_chain(db):
    """Genesis and one block per round (0, 1, 2) of a small experiment: heights 0 to 3."""
    experiment = run_experiment()
    check_whole_chain()
    return experiment


@pytest.fixture
def invalid_chain(experiment_chain, tamper_record):
    """The experiment chain with a client's reported metric edited in block 2, after which `watch_chain` ran."""
    txid = tamper_record(2, 1, metrics={"train_loss": 0.001})
    report = check_whole_chain()
    assert not report.valid and report.first_invalid.height == 2
    return txid


@pytest.fixture
def tamper_record(db):
    """Edits a stored record's body through SQL, as someone with write access to the database could."""

    def tamper(height, position, **changes):
        record = Record.objects.get(block__height=height, block__status=Block.Status.MAIN, position=position)
        body = json.dumps({**json.loads(record.body), **changes}, separators=(",", ":"), sort_keys=True)
        with connection.cursor() as cursor:
            cursor.execute("UPDATE ledger_record SET body = %s WHERE id = %s", [body, record.id])
        return record.txid

    return tamper


@pytest.fixture
def stale_block(experiment_chain):
    """A block that lost a mining race: mined on the same tip as the main block that won its height."""
    experiment = experiment_create(**{**SMALL_EXPERIMENT, "name": "raced"})
    batch = round_batch(experiment_run_round(experiment=experiment, number=0))
    header, records = block_template(batch=batch)
    # A later time than the winner's template can have, so the two headers differ.
    loser = search(dataclasses.replace(header, time=header.time + 7)).header
    winner = block_mine(batch=batch)
    stale = block_append(header=loser, records=records)
    assert stale.status == Block.Status.STALE and stale.height == winner.height
    return stale
