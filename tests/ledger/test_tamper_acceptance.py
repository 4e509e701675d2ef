"""Truncation, a deleted middle block and re-mined tails: each found by `verify_chain`, by a running
`watch_chain` within a second, and after a restart (`watch_chain --once`, a fresh process).

A chain of heights 0..12. The tamperer writes through raw SQL, as anyone holding the database file can. A
re-mined tail is tried unsigned, signed with the secret key that sits in the data directory (what earlier
versions signed checkpoints with by default) and signed with an Ed25519 key of the tamperer's own; none of
them is the node key, which lives in the key directory.
"""

import hashlib
import hmac
import io
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import transaction

from apps.events.models import Event
from apps.ledger.checkpoint import checkpoint_signature
from apps.ledger.models import Block, Checkpoint, PendingBatch, Record

from ..conftest import process_env, wait_for
from .conftest import mine_rounds, verify_chain_json
from .test_tamper_matrix import SqlWriter, edit_body, lower_a_metric, rewrite, stored

TIP = 12
writer = SqlWriter()


def delete_blocks(heights, *, checkpoints=False):
    """What the audit did: a block's records, its batch link and the block go; its checkpoint stays unless asked."""
    for height in heights:
        block_id = writer._block_id(height)
        writer.execute(f"UPDATE {PendingBatch._meta.db_table} SET block_id = NULL WHERE block_id = %s", [block_id])
        writer.execute(f"DELETE FROM {Record._meta.db_table} WHERE block_id = %s", [block_id])
        writer.execute(f"DELETE FROM {Block._meta.db_table} WHERE id = %s", [block_id])
        if checkpoints:
            writer.execute(f"DELETE FROM {Checkpoint._meta.db_table} WHERE height = %s", [height])


def remine_tail(start, sign=None):
    """Edits a metric at `start`, re-mines every block from there to the tip so hashes, links and work hold,
    and, with `sign(height, hash)`, re-signs each checkpoint."""
    _, header, bodies = stored(start)
    new = rewrite(writer, start, header, edit_body(bodies, 2, lower_a_metric))
    for height in range(start, TIP + 1):
        if height > start:
            _, header, _ = stored(height)
            new = rewrite(writer, height, replace(header, prev_hash=new.hash()))
        if sign is not None:
            writer.update_checkpoint(height, hash=new.hash_hex(), signature=sign(height, new.hash_hex()))


def sign_with_the_data_dir_secret(height, hash_hex):
    key = (settings.DATA_DIR / "dev_secret_key").read_text().strip().encode()  # readable beside the database
    return hmac.new(key, b"fedchain-checkpoint/1:%d:%s" % (height, hash_hex.encode()), hashlib.sha256).hexdigest()


ANOTHER_KEY = Ed25519PrivateKey.generate()


SCENARIOS = {
    "truncate 1 block": (lambda: delete_blocks([12]), 12, "height"),
    "truncate 2 blocks": (lambda: delete_blocks([12, 11]), 11, "height"),
    "truncate 10 blocks": (lambda: delete_blocks(range(12, 2, -1)), 3, "height"),
    "truncate 10 blocks and their checkpoints": (lambda: delete_blocks(range(12, 2, -1), checkpoints=True), 3, "height"),
    "delete a middle block": (lambda: delete_blocks([6], checkpoints=True), 6, "height"),
    "re-mine the tail, unsigned": (lambda: remine_tail(5), 5, "checkpoint"),
    "re-mine the tail, signed with the data directory's secret": (
        lambda: remine_tail(5, sign_with_the_data_dir_secret), 5, "checkpoint"),
    "re-mine the tail, signed with another key": (
        lambda: remine_tail(5, lambda h, x: checkpoint_signature(ANOTHER_KEY, h, x)), 5, "checkpoint"),
}


def statuses():
    return list(Event.objects.filter(type="chain_status").order_by("id").values_list("payload", flat=True))


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", SCENARIOS)
def test_each_tamper_is_found_by_verify_chain_the_running_watcher_and_after_a_restart(name):
    tamper, height, rule = SCENARIOS[name]
    mine_rounds(1, TIP)
    assert verify_chain_json()["valid"]
    watcher = subprocess.Popen(
        [sys.executable, "manage.py", "watch_chain", "--interval", "0.2"], cwd=settings.BASE_DIR, env=process_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        wait_for(lambda: statuses(), timeout=60, message="the watcher's first verdict")
        assert statuses()[-1]["valid"] is True
        time.sleep(0.3)
        seen = len(statuses())
        with transaction.atomic():  # so the first verdict is about the whole tamper, not a state half-way
            tamper()
        tampered = time.monotonic()
        wait_for(lambda: len(statuses()) > seen, timeout=10, interval=0.02, message="the watcher's invalid verdict")
        latency = time.monotonic() - tampered
        running = statuses()[-1]
    finally:
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(timeout=20) == 0
    assert "Traceback" not in watcher.stderr.read()
    assert (running["valid"], running["untrusted_from_height"], running["first_invalid"]["rule"]) == (False, height, rule)
    assert latency < 1.0, f"{name}: {latency:.2f} s"

    report = verify_chain_json()
    assert (report["valid"], report["untrusted_from_height"], report["first_invalid"]["rule"]) == (False, height, rule)
    assert report["last_valid_height"] == height - 1

    with pytest.raises(CommandError) as restarted:  # a watcher that starts afresh, as after a restart
        call_command("watch_chain", "--once", stdout=io.StringIO())
    assert restarted.value.returncode == 1
    assert f"untrustworthy from height {height}" in str(restarted.value) and f"rule '{rule}'" in str(restarted.value)
