import json
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.events.models import Event
from apps.federated.models import Experiment, Round
from apps.ledger.models import Block
from apps.ledger.watch import chain_verify
from tests.conftest import BASE_DIR, process_env

pytestmark = pytest.mark.django_db

SMALL_ARGS = ["--dataset", "iris", "--clients", "4", "--rounds", "3", "--difficulty-bits", "8"]


def run(*args):
    from io import StringIO

    out, err = StringIO(), StringIO()
    call_command("run_experiment", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_json_summary_progress_and_every_round_on_a_valid_chain():
    out, err = run(*SMALL_ARGS, "--model", "mlp", "--hidden", "8", "--aggregator", "median", "--json")
    summary = json.loads(out)
    experiment = Experiment.objects.get(pk=summary["id"])
    assert summary["status"] == experiment.status == "finished" and experiment.finished_at is not None
    assert [r["round"] for r in summary["rounds"]] == [0, 1, 2, 3]
    assert summary["final_accuracy"] == summary["rounds"][-1]["accuracy"] == Round.objects.get(number=3).test_accuracy
    assert summary["settings"]["aggregator"] == "median" and summary["settings"]["hidden"] == [8]
    heights = [r["block_height"] for r in summary["rounds"]]
    assert heights == sorted(heights) and len(set(heights)) == 4 and None not in heights
    assert summary["chain_height"] == Block.objects.filter(status="main").order_by("-height").first().height
    assert chain_verify().valid
    assert "round 3/3" in err and "block" in err
    statuses = [e.payload["status"] for e in Event.objects.filter(type="experiment").order_by("id")]
    assert statuses == ["queued", "running", "finished"]


def test_plain_summary_names_accuracy_baseline_and_chain_height():
    out, _ = run(*SMALL_ARGS)
    assert "finished" in out and "final test accuracy" in out
    assert "centralized baseline accuracy" in out and "chain height" in out
    out, _ = run(*SMALL_ARGS, "--no-baseline")
    assert "baseline" not in out
    assert Experiment.objects.order_by("-id").first().baseline is False


def test_bad_settings_name_each_option_and_create_nothing():
    with pytest.raises(CommandError) as caught:
        run("--clients", "0", "--lr", "fast", "--aggregator", "mean", "--partition", "dirichlet", "--alpha", "-1")
    message = str(caught.value)
    assert message.startswith("invalid settings, nothing was created")
    for text in ("--clients: must be between 1", "--lr: must be a number", "--aggregator: 'mean' is not one of",
                 "--alpha: must be in (0"):
        assert text in message
    assert not Experiment.objects.exists() and not Event.objects.exists()


def test_a_failure_mid_run_marks_the_experiment_failed_with_the_reason(monkeypatch):
    from apps.federated import services

    calls = []

    def failing_miner(**kwargs):
        calls.append(kwargs)
        if len(calls) == 2:
            raise RuntimeError("the miner crashed")
        return original(**kwargs)

    original = services.block_mine
    monkeypatch.setattr(services, "block_mine", failing_miner)
    with pytest.raises(CommandError, match="failed: the miner crashed"):
        run(*SMALL_ARGS)
    experiment = Experiment.objects.get()
    assert experiment.status == "failed" and experiment.error == "the miner crashed"
    assert list(experiment.round_set.values_list("number", flat=True)) == [0, 1]


@pytest.mark.django_db(transaction=True)
def test_from_the_shell_bad_settings_exit_non_zero_with_a_message():
    result = subprocess.run(
        [sys.executable, "manage.py", "run_experiment", "--dataset", "mnist", "--rounds", "0"],
        cwd=BASE_DIR, env=process_env(), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "--dataset: 'mnist' is not one of digits" in result.stderr
    assert "--rounds: must be between 1" in result.stderr
    assert "Traceback" not in result.stderr
    assert not Experiment.objects.exists()


def test_ctrl_c_marks_the_experiment_cancelled_and_keeps_the_recorded_rounds(monkeypatch):
    from apps.federated import services

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(services, "block_mine", interrupted)
    with pytest.raises(CommandError, match="was interrupted and is marked cancelled"):
        run(*SMALL_ARGS)
    experiment = Experiment.objects.get()
    assert experiment.status == "cancelled" and experiment.error == "interrupted"
    assert list(experiment.round_set.values_list("number", flat=True)) == [0]
