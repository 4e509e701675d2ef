"""The README's audit walk-through, run as written against a live server: it re-derives a FedAvg round from the
chain's records and the model blobs alone and matches the recorded hash; its .npz loader reads a model."""

import re
import subprocess
import sys

import numpy as np
import pytest
from django.conf import settings

from apps.federated.blobs import params_parse
from apps.federated.models import Blob, Round
from apps.federated.services import experiment_create, experiment_run

pytestmark = pytest.mark.django_db(transaction=True)


def readme_script(first_line):
    """The README's python code block that starts with `first_line`."""
    text = (settings.BASE_DIR / "README.md").read_text()
    for block in re.findall(r"```python\n(.*?)```", text, re.S):
        if block.startswith(first_line):
            return block
    raise AssertionError(f"the README has no python block starting with {first_line!r}")


def run(script, tmp_path, *args, url):
    path = tmp_path / "script.py"
    path.write_text(script)
    return subprocess.run(
        [sys.executable, str(path), *map(str, args)], env={"FEDCHAIN_URL": url, "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120,
    )


@pytest.fixture
def finished():
    experiment = experiment_create(dataset="iris", clients=4, rounds=2, difficulty_bits=8, baseline=False, fraction=0.75)
    return experiment_run(experiment=experiment)


def test_the_walkthrough_rederives_a_round_and_matches_its_hash(live_server, finished, tmp_path, monkeypatch):
    from apps.explorer import selectors

    monkeypatch.setattr(selectors, "RECORDS_PAGE", 2)  # the block's 5 records in 3 pages, as a large round's come
    script = readme_script("# audit_fedavg.py")
    done = run(script, tmp_path, finished.id, 2, url=live_server.url)
    assert done.returncode == 0, done.stdout + done.stderr
    model = Round.objects.get(experiment=finished, number=2).global_model_hash
    assert f"re-derived global model {model}" in done.stdout and "MATCH" in done.stdout

    # It is a real check: the summation the README warns against does not match, and neither does a changed update.
    wrong = script.replace('r += (u["samples"] / N) * fcmp(data)[1]', 'r += u["samples"] * fcmp(data)[1] / N')
    assert wrong != script
    assert "MISMATCH" in run(wrong, tmp_path, finished.id, 2, url=live_server.url).stdout


def test_the_npz_loader_reads_the_same_numbers(live_server, finished, tmp_path):
    model = Round.objects.get(experiment=finished, number=1).global_model_hash
    done = run(readme_script("# load_npz.py"), tmp_path, model, url=live_server.url)
    assert done.returncode == 0, done.stderr
    shapes, flat = params_parse(bytes(Blob.objects.get(sha256=model).data))
    assert done.stdout.strip() == f"{[tuple(s) for s in shapes]} {['float64'] * len(shapes)}"
    assert flat.dtype == np.float64
