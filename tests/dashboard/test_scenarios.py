"""Guided scenarios: one click starts them; the tamper demonstration checks a sandbox copy and nothing else."""

import pytest

from apps.federated.models import Experiment
from apps.federated.selectors import round_batch
from apps.federated.services import experiment_create, experiment_run_round
from apps.ledger.models import Block, Record
from apps.ledger.sandbox import sandbox_check
from apps.ledger.store import block_mine
from apps.ledger.watch import chain_verify

pytestmark = pytest.mark.django_db


def mined_chain(rounds=2):
    experiment = experiment_create(dataset="iris", clients=3, rounds=rounds, difficulty_bits=4)
    for number in range(rounds + 1):
        block_mine(batch=round_batch(experiment_run_round(experiment=experiment, number=number)))
    return experiment


def stored_chain():
    return list(Record.objects.order_by("id").values_list("body", "txid")), list(
        Block.objects.order_by("id").values_list("hash", "merkle_root", "status")
    )


def test_iid_vs_non_iid_starts_two_experiments_that_differ_only_in_the_split(staff_client):
    response = staff_client.post("/scenarios/iid-vs-non-iid/")
    iid, skewed = Experiment.objects.order_by("id")
    assert response.status_code == 302
    assert response["Location"] == f"/compare/?ids={iid.id}%2C{skewed.id}&scenario=iid-vs-non-iid"
    assert iid.status == skewed.status == Experiment.Status.RUNNING
    differing = {k for k, v in iid.settings().items() if skewed.settings()[k] != v}
    assert differing == {"partition", "alpha"}
    page = staff_client.get(response["Location"])
    assert b"what to look for" in page.content and page.context["view"]["differing"] == ["partition", "alpha"]


def test_attack_vs_defence_starts_a_clean_run_and_the_same_attack_against_fedavg_and_multi_krum(staff_client):
    response = staff_client.post("/scenarios/attack-vs-defence/")
    clean, fedavg, multi_krum = Experiment.objects.order_by("id")
    ids = f"{clean.id}%2C{fedavg.id}%2C{multi_krum.id}"
    assert response.status_code == 302
    assert response["Location"] == f"/compare/?ids={ids}&scenario=attack-vs-defence"
    assert {clean.status, fedavg.status, multi_krum.status} == {Experiment.Status.RUNNING}
    assert (clean.attack, clean.malicious) == ("none", 0)
    for attacked in (fedavg, multi_krum):
        assert (attacked.dataset, attacked.clients, attacked.attack, attacked.malicious) == ("digits", 20, "sign_flip", 4)
        assert attacked.client_set.filter(malicious=True).count() == 4
    assert (fedavg.aggregator, multi_krum.aggregator) == ("fedavg", "krum")
    assert (multi_krum.byzantine, multi_krum.krum_select) == (4, 16)  # Multi-Krum keeping n - f updates
    page = staff_client.get(response["Location"])
    assert b"Attack vs defence: what to look for" in page.content
    assert page.context["view"]["differing"] == ["aggregator", "byzantine", "krum_select", "attack", "malicious"]


def test_scenarios_need_staff_to_start_and_refuse_unknown_ones(client, staff_client):
    assert client.post("/scenarios/iid-vs-non-iid/").status_code == 302  # to the login page
    assert not Experiment.objects.exists()
    assert staff_client.post("/scenarios/no-such-thing/").status_code == 404
    assert staff_client.get("/scenarios/iid-vs-non-iid/").status_code == 405
    assert b"Attack vs defence" in client.get("/scenarios/").content


def test_the_sandbox_names_the_tampered_block_and_the_stored_chain_is_untouched(client):
    mined_chain()
    before = stored_chain()
    tip = Block.objects.filter(status="main").order_by("-height").first().height
    body = client.get(f"/scenarios/tamper/check.json?height={tip - 1}").json()
    assert body["report"]["valid"] is False
    assert body["report"]["first_invalid"]["height"] == tip - 1
    assert body["report"]["first_invalid"]["rule"] == "merkle"
    assert body["tampered"]["field"] == "accuracy" and body["tampered"]["after"] == 0.999
    restored = client.get("/scenarios/tamper/check.json").json()
    assert restored["report"]["valid"] is True and restored["tampered"] is None
    assert restored["report"]["last_valid_height"] == tip
    assert stored_chain() == before
    assert chain_verify().valid


def test_the_sandbox_refuses_blocks_outside_its_copy_and_an_empty_chain(client):
    empty = client.get("/scenarios/tamper/check.json")
    assert empty.status_code == 400 and "only its genesis block" in empty.json()["error"]
    mined_chain(rounds=1)
    for height in ("0", "99", "-1", "x"):
        response = client.get(f"/scenarios/tamper/check.json?height={height}")
        assert response.status_code == 400, height
    assert b"Raise its recorded accuracy" in client.get("/scenarios/tamper/").content


def test_the_sandbox_starts_after_a_long_chain_s_older_blocks(monkeypatch):
    from apps.ledger import sandbox

    monkeypatch.setattr(sandbox, "SANDBOX_BLOCKS", 2)
    mined_chain(rounds=3)
    result = sandbox_check(tamper_height=4)
    assert (result["from_height"], result["to_height"]) == (3, 4)
    assert result["report"]["first_invalid"]["height"] == 4
    assert sandbox_check()["report"]["valid"] is True
