import hashlib
import io
import json

import pytest
from django.core.management import CommandError, call_command

from apps.ledger import store
from apps.ledger.records import client_update_record, experiment_record, global_model_record, reward_record


def verify_chain_json():
    """verify_chain --json's report (it exits 1 for an invalid chain)."""
    out = io.StringIO()
    try:
        call_command("verify_chain", "--json", stdout=out)
    except CommandError as error:
        assert error.returncode == 1
    return json.loads(out.getvalue())


def digest(*parts) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def round_records(experiment_id, round_number, *, clients=2):
    """A plausible round: the experiment record in round 0, client updates, the global model, a reward."""
    records = []
    if round_number == 0:
        records.append(experiment_record(experiment_id=experiment_id, config={"dataset": "digits", "rounds": 10}))
    for client in range(clients):
        records.append(
            client_update_record(
                experiment_id=experiment_id,
                round_number=round_number,
                client=f"client-{client}",
                samples=100 + client,
                update=digest("update", experiment_id, round_number, client),
                metrics={"loss": 0.5 + client / 10, "accuracy": 0.75},
                accepted=True,
            )
        )
    records.append(
        global_model_record(
            experiment_id=experiment_id,
            round_number=round_number,
            model=model_hash(experiment_id, round_number),
            aggregator="fedavg",
            loss=0.4,
            accuracy=0.8,
        )
    )
    records.append(reward_record(experiment_id=experiment_id, round_number=round_number, client="client-0", amount=1.5))
    return records


def model_hash(experiment_id, round_number):
    return digest("model", experiment_id, round_number)


def submit_round(experiment_id, round_number, *, difficulty_bits=8, clients=2):
    return store.batch_submit(
        experiment_id=experiment_id,
        round_number=round_number,
        parent_model=None if round_number == 0 else model_hash(experiment_id, round_number - 1),
        difficulty_bits=difficulty_bits,
        records=round_records(experiment_id, round_number, clients=clients),
    )


def mine_rounds(experiment_id, rounds, *, start=0, difficulty_bits=8):
    """Submits and mines rounds start..start+rounds-1 of one experiment; returns the blocks."""
    blocks = []
    for round_number in range(start, start + rounds):
        batch = submit_round(experiment_id, round_number, difficulty_bits=difficulty_bits)
        blocks.append(store.block_mine(batch=batch))
    return blocks


@pytest.fixture
def chain(db):
    """Genesis plus 8 rounds of experiment 1 at 10 bits of difficulty (heights 0..8)."""
    store.genesis_ensure()
    return mine_rounds(1, 8, difficulty_bits=10)
