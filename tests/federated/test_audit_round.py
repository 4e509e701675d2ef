import json
from io import StringIO

import pytest
import rfc8785
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.federated.models import Blob, ClientUpdate, Round
from apps.federated.selectors import round_audit
from apps.federated.services import experiment_create, experiment_run, experiment_run_round
from apps.ledger.models import Record

from .conftest import SMALL

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished():
    experiment = experiment_create(**{**SMALL, "rounds": 3, "aggregator": "krum", "fraction": 0.75, "krum_select": 2})
    return experiment_run(experiment=experiment)


def audit(experiment, number):
    out = StringIO()
    call_command("audit_round", str(experiment.id), str(number), "--json", stdout=out)
    return json.loads(out.getvalue())


def test_every_round_of_a_finished_run_passes_the_audit(finished):
    for number in range(4):
        report = audit(finished, number)
        assert report["ok"] and report["problems"] == [] and report["block_height"] is not None
    out = StringIO()
    call_command("audit_round", str(finished.id), "2", stdout=out)
    assert "checks out" in out.getvalue()
    # Krum kept 2 of the 3 sampled updates: rejections are part of what is re-derived.
    assert ClientUpdate.objects.filter(round__number=2, accepted=False).count() == 1


def problems_after(experiment, number):
    with pytest.raises(CommandError, match=f"round {number} of experiment {experiment.id} fails the audit"):
        audit(experiment, number)
    return round_audit(experiment=experiment, number=number).problems


def test_a_damaged_update_blob_fails_the_audit(finished):
    update = ClientUpdate.objects.filter(round__number=2).first()
    data = bytearray(Blob.objects.get(sha256=update.update_hash).data)
    data[-1] ^= 1
    Blob.objects.filter(sha256=update.update_hash).update(data=bytes(data))
    problems = problems_after(finished, 2)
    assert problems == [f"the update of client {update.client.index} ({update.update_hash}) is missing or damaged"]


def test_a_missing_previous_model_fails_the_audit(finished):
    Blob.objects.filter(sha256=Round.objects.get(number=1).global_model_hash).delete()
    assert "the previous global model" in problems_after(finished, 2)[0]


@pytest.mark.parametrize("damage", ["delete", "flip a byte"])
def test_a_missing_or_damaged_final_global_model_fails_the_audit(finished, damage):
    last = Round.objects.get(experiment=finished, number=3).global_model_hash
    blob = Blob.objects.filter(sha256=last)
    if damage == "delete":
        blob.delete()
    else:
        data = bytearray(blob.get().data)
        data[-1] ^= 1
        blob.update(data=bytes(data))
    assert problems_after(finished, 3) == [f"the round's global model ({last}) is missing from the blob store or damaged"]


def tamper_record(experiment, number, kind, change):
    record = Record.objects.get(experiment_id=experiment.id, round_number=number, type=kind, **(
        {"body__contains": '"accepted":false'} if kind == "client_update" else {}))
    body = json.loads(record.body)
    change(body)
    Record.objects.filter(pk=record.pk).update(body=rfc8785.dumps(body).decode())


def test_a_chain_record_naming_another_global_model_fails(finished):
    tamper_record(finished, 3, "global_model", lambda body: body.update(model="0" * 64))
    problems = problems_after(finished, 3)
    assert any("the chain records " + "0" * 64 in p for p in problems)
    assert any("the database's global model" in p for p in problems)


def test_a_rejected_update_relabelled_accepted_on_the_chain_fails(finished):
    tamper_record(finished, 1, "client_update", lambda body: body.update(accepted=True))
    problems = problems_after(finished, 1)
    assert any(p.startswith("the aggregator accepts clients") for p in problems)


def test_an_update_row_edited_in_the_database_fails(finished):
    ClientUpdate.objects.filter(round__number=1, accepted=True).update(samples=1)
    assert any("the database's client updates differ" in p for p in problems_after(finished, 1))


def test_a_recorded_metric_that_is_not_the_models_fails(finished):
    tamper_record(finished, 0, "global_model", lambda body: body.update(accuracy=0.99))
    problems = problems_after(finished, 0)
    assert any("the chain records" in p and "0.99" in p for p in problems)


def test_an_unmined_round_is_reported_and_unknown_rounds_are_errors(finished):
    fresh = experiment_create(**SMALL)
    experiment_run_round(experiment=fresh, number=0)
    assert problems_after(fresh, 0) == [f"round 0 of experiment {fresh.id} is in no block of the main chain"]
    with pytest.raises(CommandError, match="no recorded round 9"):
        audit(finished, 9)
    with pytest.raises(CommandError, match="there is no experiment 999"):
        call_command("audit_round", "999", "0")
    with pytest.raises(CommandError, match="ROUND must be a whole number"):
        call_command("audit_round", str(finished.id), "two")


def test_an_audit_says_when_the_block_it_stands_on_is_invalid(finished):
    from apps.ledger.models import Block

    block = Record.objects.filter(experiment_id=finished.id, round_number=1).first().block
    Block.objects.filter(pk=block.pk).update(nonce=block.nonce + 1)  # the stored column no longer matches the bytes
    problems = json.loads(_audit_output(finished, 1))["problems"]
    assert problems[0].startswith(f"the round's block {block.height} is invalid: block {block.height} breaks rule 'stored-fields'")
    later = json.loads(_audit_output(finished, 2))
    assert not later["ok"] and later["chain_invalid_at"]["height"] == block.height
    assert later["problems"][0].startswith(f"the round's block {block.height + 1} stands on block {block.height}, which is invalid")
    earlier = audit(finished, 0)  # below the bad block: it checks out, and says how far it checked
    assert earlier["ok"] and earlier["chain_invalid_at"] is None
    out = StringIO()
    call_command("audit_round", str(finished.id), "0", stdout=out)
    assert f"blocks 0 to {block.height - 1} are valid" in out.getvalue()


def _audit_output(experiment, number):
    out = StringIO()
    with pytest.raises(CommandError, match="fails the audit"):
        call_command("audit_round", str(experiment.id), str(number), "--json", stdout=out)
    return out.getvalue()
