"""`manage.py verify_chain [--json] [--from H]`: exit 0 when valid, 1 naming the first invalid block."""

import io
import json
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from apps.ledger.models import Record

from ..conftest import process_env
from .conftest import mine_rounds


def run(*args):
    out = io.StringIO()
    try:
        call_command("verify_chain", *args, stdout=out)
    except CommandError as error:
        return error, out.getvalue()
    return None, out.getvalue()


def tamper_record(height):
    record = Record.objects.get(block__status="main", block__height=height, position=1)
    Record.objects.filter(pk=record.pk).update(body=record.body.replace('"client-0"', '"client-9"'))


@pytest.mark.django_db
def test_a_valid_chain_passes_in_text_and_json(chain):
    error, out = run()
    assert error is None
    assert out.startswith(f"valid: 9 blocks checked (heights 0 to 8), tip {chain[-1].hash}")
    error, out = run("--json")
    report = json.loads(out)
    assert error is None
    assert report == {
        "valid": True, "untrusted_from_height": None, "first_invalid": None, "last_valid_height": 8,
        "last_valid_hash": chain[-1].hash, "last_valid_chainwork": chain[-1].chainwork, "stored_tip_height": 8,
        "checked_from_height": 0, "blocks_checked": 9, "not_checked": None,
        "notes": [],  # notes: what other apps add (the network's disagreeing peers)
    }


@pytest.mark.django_db
def test_an_invalid_chain_exits_1_naming_height_rule_and_reason(chain):
    tamper_record(3)
    error, out = run()
    assert error.returncode == 1
    assert str(error) == (
        "invalid: block 3 breaks rule 'merkle': the header's Merkle root "
        f"{chain[2].merkle_root} is not the root of the block's records; the chain is untrustworthy from "
        "height 3 (valid below it up to height 2)"
    )
    error, out = run("--json")
    assert error.returncode == 1
    report = json.loads(out)
    assert report["first_invalid"] == {
        "height": 3, "rule": "merkle",
        "message": f"the header's Merkle root {chain[2].merkle_root} is not the root of the block's records",
    }
    # Beside "valid": false no field reads as the bad height but the one named so.
    assert (report["valid"], report["untrusted_from_height"], report["last_valid_height"]) == (False, 3, 2)
    assert "height" not in report


@pytest.mark.django_db
def test_from_checks_the_block_it_stands_on_and_says_what_it_did_not_check(chain):
    tamper_record(2)
    error, out = run("--json", "--from", "5")
    assert error is None
    report = json.loads(out)
    assert (report["checked_from_height"], report["blocks_checked"]) == (4, 5)  # block 4 and 5..8
    assert report["not_checked"].startswith("blocks 0 to 3")
    error, out = run("--from", "5")
    assert "not checked: blocks 0 to 3" in out
    error, out = run("--from", "3")  # it stands on block 2: invalid, not "valid"
    assert error.returncode == 1 and "block 2 breaks rule 'merkle'" in str(error)
    tamper_record(6)
    error, out = run("--json", "--from", "5")
    assert json.loads(out)["first_invalid"]["height"] == 6
    error, out = run("--from", "9")  # the next height: only the tip it would stand on, and it says so
    assert error is None and out.startswith("valid: 1 blocks checked (heights 8 to 8)")
    assert "not checked: blocks 0 to 7" in out


@pytest.mark.django_db
@pytest.mark.parametrize(
    "height, message",
    [("-1", "--from must be"), ("50", "the chain's tip is at height 8: there is no block at height 50 to check")],
)
def test_a_bad_from_height_is_a_clear_error(chain, height, message):
    error, _ = run("--from", height)
    assert message in str(error) and error.returncode == 1


@pytest.mark.django_db(transaction=True)
def test_the_command_exits_1_as_a_process():
    mine_rounds(1, 3)
    tamper_record(2)
    result = subprocess.run(
        [sys.executable, "manage.py", "verify_chain"], cwd=settings.BASE_DIR, env=process_env(),
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert "block 2 breaks rule 'merkle'" in result.stderr
    assert "Traceback" not in result.stderr
