"""The dashboard in headless Chromium against the real ASGI application: live updates, tamper badge, reconnects.

Screenshots land in test-artifacts/dashboard/.
"""

import json
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection

from apps.dashboard.selectors import NEWEST_BLOCKS
from apps.events.models import Event
from apps.events.services import event_emit
from apps.federated.models import Experiment
from apps.federated.selectors import round_batch
from apps.federated.services import experiment_create, experiment_run_round
from apps.ledger.models import Block
from apps.ledger.store import block_mine
from tests.conftest import process_env, wait_for

from .conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SMALL = {"dataset": "iris", "clients": 4, "rounds": 3, "difficulty_bits": 8}


def run_round(experiment, number):
    """One round recorded and mined, as the workers do it (in this process)."""
    round_row = experiment_run_round(experiment=experiment, number=number)
    return block_mine(batch=round_batch(round_row))


def chart_points(page, chart_id, trace=0):
    return page.evaluate(
        "([id, trace]) => { const c = document.getElementById(id); return c.data ? c.data[trace].x.length : 0; }",
        [chart_id, trace],
    )


def block_heights(page):
    return page.eval_on_selector_all("#blocks tr", "rows => rows.map(r => Number(r.dataset.height))")


def badge(page):
    return page.inner_text("#chain-badge")




def test_an_experiment_started_from_the_form_trains_in_the_workers_while_the_page_follows(
    asgi_server, browser_page, worker_pool
):
    page = browser_page
    sign_in(page, asgi_server, "/experiments/new/")
    page.fill("#id_name", "from the browser")
    page.select_option("#id_dataset", "digits")
    page.fill("#id_clients", "6")
    # Enough rounds, and blocks of a few hundred thousand hashes, that a fast machine is still training when the
    # test pauses it.
    page.fill("#id_rounds", "30")
    page.fill("#id_difficulty_bits", "18")
    page.fill("#id_lr", "-0.5")
    page.click("button[type=submit]")
    assert "must be in (0, 100]" in page.inner_text(".field.invalid")
    assert not Experiment.objects.exists()
    screenshot(page, "form-error")
    page.fill("#id_lr", "0.1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{asgi_server}/experiments/*/")
    experiment = Experiment.objects.get(name="from the browser")
    assert page.url.endswith(f"/experiments/{experiment.id}/")
    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    page.wait_for_selector("#live-status[data-state=live]")
    assert experiment.status == Experiment.Status.RUNNING
    worker_pool(2)  # the experiment's first tasks have waited in the queue: the page sees every round arrive

    # The curve gains points and blocks appear as the workers record and mine rounds.
    seen = []
    deadline = time.monotonic() + 60
    started = time.monotonic()
    while not seen or seen[-1] < 3:
        assert time.monotonic() < deadline, f"the curve stopped at {seen}"
        points = chart_points(page, "loss-chart")
        if not seen or points != seen[-1]:
            seen.append(points)
        page.wait_for_timeout(50)
    print(f"curve points seen {seen} in {time.monotonic() - started:.1f} s")
    assert seen == sorted(seen) and len(set(seen) - {0}) >= 2, seen
    page.wait_for_function("() => document.querySelectorAll('#blocks tr').length >= 2", timeout=20000)
    assert page.evaluate("window.sameDocument") is True
    screenshot(page, "experiment-running")

    page.click("#controls button[data-action=pause]")
    assert page.inner_text("#experiment-status") == "paused"
    assert "pause done" in page.inner_text(".messages")
    page.wait_for_timeout(1500)  # a round already aggregating may still be recorded
    recorded = experiment.round_set.count()
    page.wait_for_timeout(2000)
    assert experiment.round_set.count() == recorded < experiment.rounds + 1

    page.click("#controls button[data-action=resume]")
    page.wait_for_function(
        "() => document.getElementById('experiment-status').textContent === 'finished'", timeout=120000
    )
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.FINISHED, experiment.error
    mined = list(Block.objects.filter(experiment_id=experiment.id, status="main").values_list("height", flat=True))
    assert len(mined) == experiment.rounds + 1
    newest = sorted(mined, reverse=True)[:NEWEST_BLOCKS]  # newest at the top
    page.wait_for_function("top => document.querySelector('#blocks tr')?.dataset.height === String(top)", arg=newest[0])
    assert block_heights(page) == newest
    assert chart_points(page, "loss-chart") == experiment.rounds + 1
    assert chart_points(page, "accuracy-chart", trace=1) == experiment.rounds + 1  # the centralized baseline
    assert chart_points(page, "cost-chart") == experiment.rounds + 1  # mining time of every round
    assert page.locator("#rounds tr").count() == experiment.rounds + 1
    assert page.is_disabled("#controls button[data-action=pause]")
    page.click("#client-loss-toggle")
    page.wait_for_function("() => document.getElementById('client-loss-chart').data?.length === 6")
    screenshot(page, "experiment-finished")


@pytest.fixture
def chain_watcher():
    """`manage.py watch_chain` in its own process, re-checking the chain every 0.2 s as in production."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "watch_chain", "--interval", "0.2"],
        cwd=settings.BASE_DIR,
        env=process_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield process
    process.terminate()
    process.wait(timeout=10)


def latest_chain_status():
    payload = Event.objects.filter(type="chain_status").order_by("-id").values_list("payload", flat=True).first()
    return payload


def wait_for_verdict(valid):
    """Waits until watch_chain has emitted a verdict; returns the moment it was seen (monotonic)."""
    wait_for(lambda: (latest_chain_status() or {}).get("valid") is valid, timeout=20, interval=0.01,
             message=f"a chain_status event with valid={valid}")
    return time.monotonic()


def test_the_badge_turns_red_within_a_second_of_a_tamper_being_detected(asgi_server, browser_page, chain_watcher):
    page = browser_page
    experiment = experiment_create(name="tamper target", **SMALL)
    for number in range(3):
        run_round(experiment, number)
    tip = Block.objects.filter(status="main").order_by("-height").first()
    wait_for_verdict(True)
    page.goto(f"{asgi_server}/")
    page.wait_for_selector("#live-status[data-state=live]")
    assert badge(page) == f"Chain valid · height {tip.height}"
    screenshot(page, "overview-valid")

    with connection.cursor() as cursor:  # a database writer edits a mined block
        cursor.execute("UPDATE ledger_block SET nonce = nonce + 1 WHERE height = 2 AND status = 'main'")
    detected = wait_for_verdict(False)
    page.wait_for_selector("#chain-badge.bad", timeout=1000)
    turned_red = time.monotonic() - detected
    text = badge(page)
    assert "INVALID at height 2" in text and "rule" in text, text
    assert turned_red < 1.0
    # The newest-blocks rows at and above the invalid block say so too, not only the badge.
    page.wait_for_selector('#blocks tr[data-height="3"] .badge.bad', timeout=1000)
    assert "on invalid block 2" in page.inner_text('#blocks tr[data-height="3"]')
    assert "invalid" in page.inner_text('#blocks tr[data-height="2"]')
    assert "invalid" not in page.inner_text('#blocks tr[data-height="1"]')
    screenshot(page, "overview-tampered")
    page.goto(f"{asgi_server}/experiments/{experiment.id}/")
    page.wait_for_selector('#rounds tr[data-round="2"] .badge.bad', timeout=5000)
    assert "invalid" in page.inner_text('#rounds tr[data-round="1"]')  # round 1 is block 2
    assert "invalid" not in page.inner_text('#rounds tr[data-round="0"]')
    screenshot(page, "experiment-rounds-tampered")
    page.goto(f"{asgi_server}/")
    page.wait_for_selector("#live-status[data-state=live]")

    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_block SET nonce = nonce - 1 WHERE height = 2 AND status = 'main'")
    wait_for_verdict(True)
    page.wait_for_selector("#chain-badge.ok", timeout=1000)

    # Re-mining the tail would fix every hash; the checkpoint signed with a key outside the database does not.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_checkpoint SET hash = %s WHERE height = %s", ["0" * 64, tip.height])
    wait_for_verdict(False)
    page.wait_for_selector("#chain-badge.bad", timeout=1000)
    assert badge(page) == f"Checkpoint mismatch at height {tip.height}"
    screenshot(page, "overview-checkpoint-mismatch")


def test_a_dropped_websocket_reconnects_and_catches_up_exactly(asgi_server, browser_page):
    page = browser_page
    experiment = experiment_create(name="reconnect", **SMALL)
    frames = {"sent": [], "received": []}

    def on_websocket(ws):
        ws.on("framesent", lambda payload: frames["sent"].append(json.loads(payload)))
        ws.on("framereceived", lambda payload: frames["received"].append(json.loads(payload)))

    page.on("websocket", on_websocket)
    page.goto(f"{asgi_server}/experiments/{experiment.id}/")
    page.wait_for_selector("#live-status[data-state=live]")
    run_round(experiment, 0)
    page.wait_for_function("() => document.querySelectorAll('#blocks tr').length === 1")
    height = Block.objects.filter(status="main").order_by("-height").values_list("height", flat=True).first()
    event_emit(
        type="mining_progress",
        payload={"experiment": experiment.id, "round": 1, "height": height + 1, "nonces": 1_500_000,
                 "expected": 2_000_000, "hash_rate": 1_250_000.0},
        experiment_id=experiment.id,
    )
    page.wait_for_selector("#mining[data-state=mining]")
    assert page.eval_on_selector("#mining-progress", "bar => bar.value") == 0.75
    assert page.inner_text("#mining-text") == "1.5 M of ~2.0 M expected nonces tried · 1.3 MH/s"
    assert f"block {height + 1}" in page.inner_text("#mining-title")
    last_seen = frames["received"][-1]["seq"]

    page.allow_console_errors("ERR_INTERNET_DISCONNECTED")
    page.context.set_offline(True)
    page.evaluate("window.fedchainLive.drop()")
    page.wait_for_selector("#live-status[data-state=offline]")
    missed = [run_round(experiment, number).height for number in (1, 2)]
    page.wait_for_timeout(1500)  # retries fail while offline
    assert page.locator("#blocks tr").count() == 1
    screenshot(page, "experiment-offline", full_page=False)

    page.context.set_offline(False)
    page.wait_for_selector("#live-status[data-state=live]")
    page.wait_for_function("() => document.querySelectorAll('#blocks tr').length === 3", timeout=5000)
    assert page.get_attribute("#mining", "data-state") == "idle"  # its block has been mined
    assert f"Block {missed[-1]} took" in page.inner_text("#mining-text")
    assert block_heights(page)[:2] == sorted(missed, reverse=True)
    assert chart_points(page, "loss-chart") == 3
    resumes = [frame for frame in frames["sent"] if frame.get("type") == "resume"]
    assert resumes[-1] == {"type": "resume", "after": last_seen}
    seqs = [frame["seq"] for frame in frames["received"] if frame.get("type") != "snapshot"]
    assert seqs == sorted(set(seqs)), "every event arrives once, in order"
    assert all(frame.get("type") != "snapshot" for frame in frames["received"])
    screenshot(page, "experiment-caught-up")


def test_a_narrow_screen_gets_one_column(asgi_server, chromium):
    experiment = experiment_create(name="narrow", **SMALL)
    for number in range(2):
        run_round(experiment, number)
    context = chromium.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    try:
        for path, name in ((f"/experiments/{experiment.id}/", "experiment-narrow"), ("/", "overview-narrow")):
            page.goto(f"{asgi_server}{path}")
            page.wait_for_selector("#live-status[data-state=live]")
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            screenshot(page, name, full_page=False)
        widths = page.goto(f"{asgi_server}/experiments/{experiment.id}/") and page.eval_on_selector_all(
            ".chart-card", "cards => cards.map(c => c.getBoundingClientRect().width)"
        )
        assert all(width <= 390 for width in widths)
    finally:
        context.close()
