"""Records hold only what the training determines: two fresh installs of one node (its key: experiment ids name
the node that runs them, so that they are unambiguous on a chain shared by many nodes) running the same settings
and seed put the same records and Merkle roots on their chains, byte for byte; who ran each job stays in the
database."""

import json
import os
import socket
import subprocess
import sys

import pytest
from django.conf import settings

RUN = ["run_experiment", "--dataset", "iris", "--clients", "3", "--rounds", "3", "--difficulty-bits", "8", "--seed", "7",
       "--no-baseline"]


def fresh_install_run(data_dir):
    env = {k: v for k, v in os.environ.items() if k not in ("FEDCHAIN_SQLITE_NAME", "FEDCHAIN_KEY_DIR")}
    env.update(FEDCHAIN_DATA_DIR=str(data_dir), FEDCHAIN_KEY_DIR=str(data_dir.parent / "node-keys"))
    for command in (["migrate", "-v0"], RUN, ["export_chain", str(data_dir / "chain.json")]):
        done = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((data_dir / "chain.json").read_text())["blocks"]


@pytest.mark.slow
def test_two_fresh_runs_with_one_seed_give_the_same_records_and_roots(tmp_path):
    first, second = fresh_install_run(tmp_path / "a"), fresh_install_run(tmp_path / "b")
    assert len(first) == len(second) == 5  # genesis and rounds 0..3
    for one, other in zip(first, second):
        assert one["records"] == other["records"], f"height {one['height']}"
        # Header bytes 36..68: the Merkle root.
        assert one["header_hex"][72:136] == other["header_hex"][72:136], f"height {one['height']}"
    exported = json.dumps(first)
    assert socket.gethostname() not in exported and '"worker"' not in exported
