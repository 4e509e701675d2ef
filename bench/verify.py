"""Cost of validating the chain: full verification per block, and the incremental check of one new block,
as the chain grows. Measured in the same run on one database.

A synthetic chain (apps/ledger/synthetic.py: valid blocks of 10 records, the coinbase, 8 client updates and the
global model, four experiments taking turns) is built, then:

- `chain_verify()` (what `manage.py verify_chain` runs: every hash, root, target and rule recomputed from the
  stored bytes, signed checkpoints included) at 1,000 and at 10,000 blocks: the cost per block must stay flat
  (within 1.3x);
- `block_check()` (the incremental validation `block_append` runs on a new block) of the block at height 100 and
  of the one at 10,000: within 2x;
- the chain watcher (`manage.py watch_chain`, its own process, as `make run` starts it) at 1,000, 10,000 and
  100,000 blocks while a new block arrives every second: the share of one core it takes (its CPU time over 10 s
  of wall clock, from /proc), <= 5 % at the largest size, and how long it takes to report a raw SQL edit of an
  old block (<= 1 s). The reference, measured in the same run at each size: one full pass over the chain
  (`chain_verify`), which is what a watcher re-reading the whole chain every interval spends each time. The
  chain beyond 10,000 blocks is built with lighter blocks (coinbase and global model), mined at the easiest
  difficulty (FEDCHAIN_POW_LIMIT_BITS=1 for the whole bench), so building 100,000 takes about two minutes.

Exits 1 when a target is missed.

    .venv/bin/python bench/verify.py            # 1,000 and 10,000 blocks; the watcher also at 100,000
    .venv/bin/python bench/verify.py --quick    # 300 and 3,000 blocks; the watcher also at 20,000
"""

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from _django import BASE_DIR, run_and_remove, setup_django
from _processes import process_cpu_seconds

KEY_DIR = tempfile.mkdtemp(prefix="fedchain-bench-verify-keys-")
DATA_DIR = setup_django("verify", environ={"FEDCHAIN_POW_LIMIT_BITS": "1", "FEDCHAIN_KEY_DIR": KEY_DIR})

from django.db import connection  # noqa: E402

from apps.events.models import Event  # noqa: E402
from apps.ledger import store, watch  # noqa: E402
from apps.ledger.models import Block, Record  # noqa: E402
from apps.ledger.synthetic import SyntheticChain  # noqa: E402

EARLY = 100
WINDOW = 10.0  # seconds of wall clock over which the watcher's CPU time is read
INTERVAL = 0.5  # the watcher's default interval (FEDCHAIN_WATCH_INTERVAL_MS=500)


def timed(function, repeat):
    """(fastest, median) seconds of `repeat` calls."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return min(samples), statistics.median(samples)


def incremental_check(chain, height):
    """Times the check of the block at `height` against the stored chain below it."""
    chain.grow_to(height - 1)
    header, records = chain.candidate()
    store.block_check(header=header, records=records)  # valid, or this raises
    return timed(lambda: store.block_check(header=header, records=records), 100)


def verdicts():
    return list(Event.objects.filter(type="chain_status").order_by("id").values_list("id", "payload"))


def wait_verdict(after_id, valid, timeout):
    """(seconds waited, payload) until a chain_status event newer than `after_id` says `valid`."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        for event_id, payload in verdicts():
            if event_id > after_id and payload["valid"] is valid:
                return time.perf_counter() - started, event_id
        time.sleep(0.01)
    raise RuntimeError(f"no chain_status event with valid={valid} within {timeout} s")


def edit_of_an_old_record(size):
    """(id and body of a record of a random block in the older half of the chain, the body with one digit
    changed): an edit that changes the record's bytes (an experiment record may hold no 0 to turn into a 1)."""
    for _ in range(1000):
        block_id = Block.objects.get(status="main", height=random.randint(1, size // 2)).id
        for record in Record.objects.filter(block_id=block_id, position__gte=1).order_by("position").values_list("id", "body"):
            edited = record[1].replace("0", "1", 1)
            if edited != record[1]:
                return record, edited
    raise RuntimeError("no record with a 0 in it among 1000 blocks")


def measure_watcher(chain, size):
    """The watcher process at `size` blocks: its startup, its CPU share while a block arrives each second,
    and how long it takes to report an edited old block (and its repair)."""
    reference, _ = timed(watch.chain_verify, 1)  # one full pass: what re-reading everything costs each time
    env = {**os.environ, "FEDCHAIN_DATA_DIR": DATA_DIR, "FEDCHAIN_KEY_DIR": KEY_DIR}
    last = verdicts()[-1][0] if verdicts() else 0
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "watch_chain"], cwd=BASE_DIR, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _, last = wait_verdict(last, True, timeout=600)
        startup = time.perf_counter() - started
        time.sleep(1.0)
        cpu_before, wall_before = process_cpu_seconds(process.pid), time.perf_counter()
        while time.perf_counter() - wall_before < WINDOW:  # a new block every second, as mining delivers them
            chain.grow_to(chain.height + 1)
            time.sleep(max(0.0, 1.0 - (time.perf_counter() - wall_before) % 1.0))
        share = (process_cpu_seconds(process.pid) - cpu_before) / (time.perf_counter() - wall_before)
        latencies = []
        for _ in range(3):
            record, edited = edit_of_an_old_record(size)
            with connection.cursor() as cursor:
                cursor.execute("UPDATE ledger_record SET body = %s WHERE id = %s", [edited, record[0]])
            seconds, last = wait_verdict(last, False, timeout=30)
            latencies.append(seconds)
            with connection.cursor() as cursor:
                cursor.execute("UPDATE ledger_record SET body = %s WHERE id = %s", [record[1], record[0]])
            _, last = wait_verdict(last, True, timeout=120)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    return {"reference": reference, "startup": startup, "share": share, "detect": statistics.median(latencies),
            "detect_max": max(latencies)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 and 3,000 blocks instead of 1,000 and 10,000")
    args = parser.parse_args()
    small, large = (300, 3_000) if args.quick else (1_000, 10_000)
    largest = 20_000 if args.quick else 100_000
    chain = SyntheticChain(planned_blocks=largest + 100, clients=8)
    started = time.perf_counter()
    incremental = {EARLY: incremental_check(chain, EARLY)}
    full = {}
    watcher = {}
    for size in (small, large):
        if size == large:
            incremental[large] = incremental_check(chain, large)
        chain.grow_to(size)
        assert watch.chain_verify().valid
        best, median = timed(watch.chain_verify, 3)
        full[size] = best / (size + 1)
        print(f"chain of {size:>6} blocks: verify_chain {best:.2f} s (median {median:.2f} s), "
              f"{full[size] * 1e3:.3f} ms per block", flush=True)
        watcher[size] = measure_watcher(chain, size)
    chain.clients = 0  # lighter blocks from here on, so the largest chain builds in minutes
    chain.grow_to(largest, batch=5000)
    watcher[largest] = measure_watcher(chain, largest)
    print(f"(building and measuring took {time.perf_counter() - started:.1f} s; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")

    flat = full[large] / full[small]
    growth = incremental[large][0] / incremental[EARLY][0]
    print()
    for height in (EARLY, large):
        fastest, median = incremental[height]
        print(f"incremental check of block {height:>6}: {fastest * 1e3:.2f} ms (median {median * 1e3:.2f})")
    print(f"full verification, cost per block at {large} / at {small}: {flat:.2f}x   (target <= 1.3x)")
    print(f"incremental check, block {large} / block {EARLY}:        {growth:.2f}x   (target <= 2x)")
    print()
    print("chain watcher (its own process, a new block every second, interval 0.5 s):")
    for size, w in watcher.items():
        rereading = w["reference"] / INTERVAL
        print(f"  {size:>7} blocks: {w['share'] * 100:5.2f} % of one core; an edited old block reported in "
              f"{w['detect']:.2f} s (worst of 3: {w['detect_max']:.2f} s); startup (a full check) {w['startup']:.1f} s; "
              f"a full pass takes {w['reference']:.2f} s, {min(rereading, 99.99) * 100:.0f} % of a core if run every interval")
    top = watcher[largest]
    missed = [name for name, ok in (
        ("per-block cost", flat <= 1.3), ("incremental check", growth <= 2),
        (f"watcher CPU share at {largest}", top["share"] <= 0.05),
        (f"watcher detection at {largest}", top["detect_max"] <= 1.0),
    ) if not ok]
    print("targets met" if not missed else f"MISSED: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    run_and_remove(main, DATA_DIR, KEY_DIR)
