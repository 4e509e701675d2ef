"""Real Flower federations on loopback, recorded by FedChain: a SuperLink and three SuperNodes (Flower's
deployment engine, insecure mode on 127.0.0.1), the example app of examples/flower_digits, 3 rounds.

Three runs share the federation at once (Flower runs them side by side): FedAvg unrecorded, FedAvg recorded (with
FedChain stopped for 10 s while it runs) and FedMedian recorded. Then: every round recorded, mined, the chain
valid, every round audited; and the recorded runs' final parameters compared with the unrecorded run's.
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command

from apps.federated.models import Experiment, Round
from apps.federated.selectors import round_audit
from apps.federated.storage import blob_read
from apps.federated.blobs import params_parse
from apps.ledger.models import PendingBatch
from apps.ledger.store import block_mine
from apps.ledger.watch import chain_verify
from apps.tokens.services import api_token_create
from tests.conftest import free_port, process_env, wait_for
from tests.flower.federation import Federation

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROUNDS = 3


class FedChainWeb:
    """FedChain's web process (Daphne, as `serve` starts it) on a fixed loopback port, sharing the test database."""

    def __init__(self, log):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.process = None

    def start(self):
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "fedchain_site.asgi:application"],
                cwd=settings.BASE_DIR, env=process_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        wait_for(self._answers, timeout=60, interval=0.2, message="FedChain's web process to answer")

    def _answers(self):
        try:
            with urllib.request.urlopen(self.url + "/api/chain/", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=20)


@pytest.fixture
def fedchain(tmp_path):
    web = FedChainWeb(tmp_path / "web.log")
    web.start()
    yield web
    web.stop()


@pytest.fixture
def federation(tmp_path):
    flower = Federation(tmp_path / "flower", nodes=3)
    yield flower
    flower.stop()


def _final(path):
    return {key: np.array(value) for key, value in json.loads(path.read_text()).items()}


def _mine_experiment(experiment):
    for batch in PendingBatch.objects.filter(experiment_id=experiment.id).order_by("round_number"):
        if batch.status == PendingBatch.Status.PENDING:
            block_mine(batch=batch)


def test_flower_federations_are_recorded_mined_and_audited(federation, fedchain, tmp_path):
    user = get_user_model().objects.create_user("flower-user")
    _, token = api_token_create(user=user, name="loopback federation")
    recorded = {"fedchain-url": fedchain.url, "fedchain-token": token}
    outputs = {name: tmp_path / f"{name}.json" for name in ("plain", "fedavg", "fedmedian")}
    runs = {
        "plain": federation.submit({"num-server-rounds": ROUNDS, "output-file": str(outputs["plain"])}),
        "fedavg": federation.submit({**recorded, "num-server-rounds": ROUNDS, "fedchain-name": "fedavg",
                                     "output-file": str(outputs["fedavg"])}),
        "fedmedian": federation.submit({**recorded, "num-server-rounds": ROUNDS, "strategy": "fedmedian",
                                        "fedchain-name": "fedmedian", "output-file": str(outputs["fedmedian"])}),
    }

    # FedChain stops for 10 s while the FedAvg run is between its first and last round.
    wait_for(lambda: Round.objects.filter(experiment__name="fedavg", number__gte=1).exists(), timeout=240,
             interval=0.5, message="round 1 of the recorded FedAvg run")
    assert Round.objects.filter(experiment__name="fedavg").count() < ROUNDS + 1
    fedchain.stop()
    time.sleep(10)
    assert federation.run_status(runs["fedavg"]) == "running", "the outage must fall inside the run"
    fedchain.start()

    statuses = federation.wait(list(runs.values()), timeout=400)
    assert set(statuses.values()) == {"finished:completed"}, statuses

    plain = _final(outputs["plain"])
    for name, rule in (("fedavg", "flower-fedavg"), ("fedmedian", "flower-fedmedian")):
        experiment = Experiment.objects.get(name=name)
        assert experiment.kind == Experiment.Kind.FLOWER and experiment.external["rule"] == rule
        numbers = list(experiment.round_set.order_by("number").values_list("number", flat=True))
        assert numbers == list(range(ROUNDS + 1)), f"{name}: rounds recorded {numbers}"
        _mine_experiment(experiment)
        assert PendingBatch.objects.filter(experiment_id=experiment.id, status=PendingBatch.Status.MINED).count() == ROUNDS + 1
        for number in range(ROUNDS + 1):
            report = round_audit(experiment=experiment, number=number)
            assert report.ok, (name, number, report.problems)
        # The run's own final parameters are the recorded last global model, bit for bit.
        final = _final(outputs[name])
        _, flat = params_parse(blob_read(Round.objects.get(experiment=experiment, number=ROUNDS).global_model_hash))
        assert np.array_equal(np.concatenate([final["weights"].ravel(), final["bias"].ravel()]), flat)
        if name == "fedmedian":
            continue
        # Recording changes nothing: the same seeds give the unrecorded run's parameters. Flower sums FedAvg in the
        # order replies reach it, which differs between runs, so only the last bits may differ (see the note in
        # test_recorder.py for the bit-exact check on the same replies).
        for key in plain:
            np.testing.assert_allclose(final[key], plain[key], rtol=1e-12, atol=1e-15)
    assert chain_verify().valid
    call_command("verify_chain")
