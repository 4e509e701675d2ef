"""watch_chain: cheap continuous re-checks that catch raw-SQL edits within a second."""

import io
import logging
import os
import signal
import subprocess
import sys
import time
import types

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection

from apps.events.models import Event
from apps.ledger import reads, watch
from apps.ledger.management.commands import watch_chain
from apps.ledger.models import Block, Checkpoint, PendingBatch, Record

from ..conftest import process_env, wait_for
from .conftest import mine_rounds


def raw_sql(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def body_at(height, position):
    return Record.objects.get(block__status="main", block__height=height, position=position).body


def set_body(height, position, body):
    block_id = Block.objects.get(status="main", height=height).id
    raw_sql("UPDATE ledger_record SET body = %s WHERE block_id = %s AND position = %s", [body, block_id, position])


def replace_in_body(height, position, old, new):
    body = body_at(height, position)
    assert old in body
    set_body(height, position, body.replace(old, new))


@pytest.mark.django_db
def test_the_watcher_sees_edits_repairs_and_new_blocks(chain):
    watcher = watch.ChainWatcher(full_pass_share=0)  # the triggers' log alone
    first = watcher.check()
    assert first.valid and first.last_valid_height == 8
    assert watcher.check().blocks_checked == 0  # nothing changed: nothing re-checked
    original = body_at(3, 1)
    replace_in_body(3, 1, "client-0", "client-z")
    report = watcher.check()
    assert (report.valid, report.first_invalid.height, report.first_invalid.rule) == (False, 3, "merkle")
    assert report.blocks_checked <= 2  # block 3 and the one above it, not the chain
    set_body(3, 1, original)
    assert watcher.check().valid
    mine_rounds(1, 2, start=8)
    report = watcher.check()
    assert report.valid and report.last_valid_height == 10
    assert report.blocks_checked == 2  # only the new blocks were checked


@pytest.mark.django_db
@pytest.mark.parametrize("column, value", [("nonce", 1), ("status", "stale"), ("hash", "ab" * 32)])
def test_the_watcher_sees_an_edited_block_column(chain, column, value):
    watcher = watch.ChainWatcher()
    assert watcher.check().valid
    raw_sql(f"UPDATE ledger_block SET {column} = %s WHERE height = 5", [value])
    report = watcher.check()
    assert not report.valid and report.first_invalid.height == 5


@pytest.mark.django_db
def test_a_tail_deleted_with_its_checkpoints_is_found_by_the_outbox_and_remembered_by_the_watcher(chain):
    watcher = watch.ChainWatcher(full_pass_share=0)
    assert watcher.check().last_valid_height == 8
    for height in (8, 7):
        block = Block.objects.get(status="main", height=height)
        PendingBatch.objects.filter(block=block).delete()
        block.records.all().delete()
        Checkpoint.objects.filter(height=height).delete()
        block.delete()
    fresh = watch.chain_verify()  # a fresh check reads the outbox: it announced blocks that are gone
    assert (fresh.valid, fresh.untrusted_from_height, fresh.first_invalid.rule) == (False, 7, "height")
    assert "the outbox announced block" in fresh.first_invalid.message
    Event.objects.filter(type="block").delete()  # every trace gone
    assert watch.chain_verify().valid  # a fresh check cannot tell...
    report = watcher.check()  # ...but the watcher verified blocks 7 and 8 before
    assert (report.valid, report.first_invalid.height, report.first_invalid.rule) == (False, 7, "height")
    assert "verified earlier and are gone" in report.first_invalid.message


@pytest.mark.django_db
def test_a_block_stored_while_the_check_reads_is_growth_not_truncation(chain):
    tip_read_before = chain[-1].height - 1  # a check read the tip, then the newest block and its checkpoint landed
    assert watch.chain_reach_violation(tip_read_before) is None
    Block.objects.filter(status="main", height=chain[-1].height).update(hash="00" * 32)  # it is not there after all
    violation = watch.chain_reach_violation(tip_read_before)
    assert (violation.height, violation.rule) == (chain[-1].height, "height")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_watch_chain_reports_a_raw_sql_edit_within_a_second():
    mine_rounds(1, 5)
    watcher = subprocess.Popen(
        [sys.executable, "manage.py", "watch_chain"], cwd=settings.BASE_DIR, env=process_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        statuses = Event.objects.filter(type="chain_status")
        wait_for(lambda: statuses.exists(), timeout=30, message="the first chain_status event")
        assert statuses.get().payload["valid"] is True
        time.sleep(0.3)
        replace_in_body(2, 1, "client-0", "client-x")
        edited = time.monotonic()
        wait_for(lambda: statuses.count() == 2, timeout=5, interval=0.02, message="the invalid chain_status event")
        assert time.monotonic() - edited < 1.0
        invalid = statuses.last().payload
        assert (invalid["valid"], invalid["first_invalid"]["height"], invalid["first_invalid"]["rule"]) == (False, 2, "merkle")
        assert reads.chain_status()["valid"] is False
        replace_in_body(2, 1, "client-x", "client-0")
        wait_for(lambda: statuses.count() == 3, timeout=5, message="the chain_status event after the repair")
        assert statuses.last().payload["valid"] is True
    finally:
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(timeout=30) == 0
    errors = watcher.stderr.read()
    assert "Traceback" not in errors, errors


@pytest.mark.django_db(transaction=True)
def test_watch_chain_stops_on_sigint_also_when_started_with_sigint_ignored():
    # A script's background job (`manage.py watch_chain &`) starts with SIGINT ignored, and Python then raises
    # no KeyboardInterrupt for it.
    watcher = subprocess.Popen(
        [sys.executable, "manage.py", "watch_chain", "--interval", "0.1"], cwd=settings.BASE_DIR, env=process_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        wait_for(lambda: Event.objects.filter(type="chain_status").exists(), timeout=30, message="the first check")
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(timeout=10) == 0
    finally:
        watcher.kill()
        watcher.wait()
    errors = watcher.stderr.read()
    assert "Traceback" not in errors, errors


@pytest.mark.django_db
def test_watch_chain_once_exits_0_or_1_and_a_new_install_starts_valid():
    out = io.StringIO()
    call_command("watch_chain", "--once", stdout=out)  # nothing stored yet: the genesis block is made on first use
    assert out.getvalue().strip() == "valid up to height 0"
    assert Event.objects.get(type="chain_status").payload["valid"] is True
    mine_rounds(1, 2)
    replace_in_body(1, 2, "client-0", "client-x")
    with pytest.raises(CommandError, match="invalid: block 1 breaks rule 'merkle'") as error:
        call_command("watch_chain", "--once")
    assert error.value.returncode == 1


def failing_first(monkeypatch, failures):
    """Makes the watcher's first `failures` checks fail as a locked database does, then check for real."""
    real_check = watch.ChainWatcher.check
    calls = []

    def check(watcher):
        calls.append(None)
        if len(calls) <= failures:
            raise OperationalError("database is locked")
        return real_check(watcher)

    monkeypatch.setattr(watch.ChainWatcher, "check", check)
    return calls


def sleeps_until(monkeypatch, stop_after):
    """Replaces the command's sleep between checks: counts them, and sends this process SIGINT (Ctrl-C) at the
    `stop_after`th; a loop that goes on after it fails the test instead of hanging it."""
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == stop_after:
            os.kill(os.getpid(), signal.SIGINT)
        elif len(sleeps) > stop_after:
            raise AssertionError("the loop went on after SIGINT")

    monkeypatch.setattr(watch_chain, "time", types.SimpleNamespace(monotonic=time.monotonic, sleep=sleep))
    return sleeps


@pytest.fixture
def signal_handlers_kept():
    """The test process's SIGINT and SIGTERM handlers, put back after a command in it installed its own."""
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in previous.items():
        signal.signal(signum, handler)


@pytest.mark.django_db
def test_watch_chain_once_reports_a_failed_check_and_exits_2(monkeypatch):
    calls = failing_first(monkeypatch, failures=1)
    sleeps = sleeps_until(monkeypatch, stop_after=1)
    with pytest.raises(CommandError, match="the chain could not be checked: database is locked") as error:
        call_command("watch_chain", "--once")
    assert error.value.returncode == 2
    assert (len(calls), sleeps) == (1, [])  # one attempt, no retry
    assert not Event.objects.filter(type="chain_status").exists()


@pytest.mark.django_db(transaction=True)  # the loop closes its connection between checks, as in production
def test_watch_chain_keeps_running_after_a_failed_check_and_retries(monkeypatch, caplog, signal_handlers_kept):
    calls = failing_first(monkeypatch, failures=2)
    sleeps = sleeps_until(monkeypatch, stop_after=3)
    with caplog.at_level(logging.WARNING, logger=watch_chain.__name__):
        call_command("watch_chain", "--interval", "0.05")  # returns on SIGINT, as on Ctrl-C
    assert len(calls) == 3 and len(sleeps) == 3
    assert [r.getMessage() for r in caplog.records] == ["chain check failed, retrying: database is locked"] * 2
    assert Event.objects.get(type="chain_status").payload["valid"] is True  # the third check went through
