"""A network of local FedChain nodes: block propagation, stale blocks against the block interval, and the cost of
syncing a chain, each beside a reference measured in the same run.

Every node is a real `manage.py serve` (web server, workers, chain watcher, network loop) with its own data and key
directory on a free loopback port, started by the harness the network tests use (tests/network/nodes.py).

1. Propagation across 3 and 5 nodes: an experiment runs on the first node while every node mines its rounds. For
   each main block, from the moment the node that mined it stored it to the moment the last node stored it
   (`Block.created_at` on each node; one machine, one clock): p50 and p95. Reference: the time one node takes to
   check and store one block locally (section 3's import, per block).
2. Stale blocks against the block interval (3 nodes): the same experiment at rising difficulty. The measured
   stale rate beside what a latency model in the manner of BlockFL's predicts from figures measured in that run:
   the block propagation delay d (p50), the batch propagation delay b (p50: a round's batch stored by the node
   that trained it -> by each other node) and each node's mean search time T (2^bits over its median hash rate).
   Every node's search is exponential with mean T; the node that trained the round starts at once, the others
   when the batch reaches them (b); a node stops when it hears of a block (found + d); every block found before
   its finder heard of another is stored, all but one stale. Unlike BlockFL's miners that all start together,
   the trainer's head start means short searches give no forks: stale blocks need T comparable to d.
3. Sync per 1,000 blocks: a node holding a synthetic chain (apps/ledger/synthetic.py), an empty node peered to
   it, from its first answer to the same tip; reference: the same chain imported locally (`chain_import` of an
   export) into an empty database. Interleaved, medians.

    .venv/bin/python bench/network.py            # 10 rounds per difficulty, 1,000 blocks synced, 3 times
    .venv/bin/python bench/network.py --quick    # 6 rounds, 300 blocks, twice
    .venv/bin/python bench/network.py --only sync   # section 3 alone
"""

import argparse
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from _django import BASE_DIR, setup_django

setup_django("network")
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

import numpy as np  # noqa: E402

from tests.network.nodes import Node, peered, same_tip, wait  # noqa: E402

logging.getLogger("httpx").setLevel(logging.WARNING)

EXPERIMENT = ["--dataset", "iris", "--clients", "3", "--model", "softmax", "--local-epochs", "1", "--no-baseline"]


def run_experiment(node, *, rounds, bits):
    result = node.manage(
        "run_experiment", *EXPERIMENT, "--rounds", str(rounds), "--difficulty-bits", str(bits), "--background"
    )
    return int(next(word for word in reversed(result.stdout.split()) if word.isdigit()))


def finished(node, experiment):
    return node.sql("SELECT status FROM federated_experiment WHERE id=?", (experiment,)) == [("finished",)]


def stored_at(node, experiment):
    """{block hash: (status, created_at seconds, mined_by, hash rate)} of the experiment's blocks on a node."""
    rows = node.sql(
        "SELECT hash, status, created_at, mined_by, hash_rate FROM ledger_block WHERE experiment_id=?", (experiment,)
    )
    return {h: (status, datetime.fromisoformat(str(at)).timestamp(), by, rate) for h, status, at, by, rate in rows}


def batch_delays(nodes, experiment):
    """Seconds from the round's batch stored on the first node (which trained it) to stored on each other."""
    stored = [dict(node.sql("SELECT round_number, created_at FROM ledger_pendingbatch WHERE experiment_id=?",
                            (experiment,))) for node in nodes]
    origin = stored[0]
    return [
        datetime.fromisoformat(str(at)).timestamp() - datetime.fromisoformat(str(origin[number])).timestamp()
        for other in stored[1:] for number, at in other.items() if number in origin
    ]


def predicted_stale_rate(nodes, delay, batch_delay, search, trials=20000, seed=1):
    """The latency model of the module's docstring, by simulation: the share of blocks that end stale."""
    rng = np.random.default_rng(seed)
    starts = np.full(nodes, max(0.0, batch_delay))
    starts[0] = 0.0
    found = starts + rng.exponential(search, size=(trials, nodes))
    first = found.min(axis=1, keepdims=True)
    # A node finds a block unless it heard of the first one (first + d) before its own find.
    blocks = (found < first + delay).sum(axis=1)
    return float(((blocks - 1) / blocks).mean())


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)] if ordered else float("nan")


def experiment_figures(nodes, *, rounds, bits, timeout):
    """Runs one experiment on the first node; returns the propagation delays, stale and main block counts, and
    the winning blocks' search times."""
    experiment = run_experiment(nodes[0], rounds=rounds, bits=bits)
    wait(lambda: finished(nodes[0], experiment), timeout, f"experiment {experiment} to finish")
    wait(lambda: same_tip(nodes), 180, "every node on one tip")
    names = {node.hello()["node"]: node for node in nodes}
    seen = [stored_at(node, experiment) for node in nodes]
    main = {h: row for h, row in seen[0].items() if row[0] == "main"}
    delays = []
    for block_hash, (_, _, miner, _) in main.items():
        times = [blocks[block_hash][1] for blocks in seen if block_hash in blocks]
        if miner in names and len(times) == len(nodes):
            delays.append(max(times) - seen[nodes.index(names[miner])][block_hash][1])
    stale = {h for blocks in seen for h, row in blocks.items() if row[0] == "stale"} - main.keys()
    rates = [row[3] for blocks in seen for row in blocks.values() if row[3]]
    return delays, batch_delays(nodes, experiment), len(stale), len(main), rates


def start(nodes):
    for node in nodes:
        node.start()
    # A failed request raises inside the predicate, which `wait` takes as "not yet".
    wait(lambda: all(len(node.get("/p2p/v1/peers").json()["peers"]) >= len(nodes) - 1 for node in nodes), 60,
         "the nodes to know each other")


def stop(nodes):
    for node in nodes:
        node.stop()


def section_propagation_and_stale(base, *, rounds, sweep, five_bits):
    print("== propagation and stale blocks (an iris experiment of", rounds, "rounds on node 1, every node mining)")
    three = peered(base / "three", 3)
    delays_by_bits = {}
    try:
        start(three)
        print(f"{'bits':>4} {'blocks':>6} {'stale':>5} {'stale rate':>10} {'model':>6} {'search T s':>10} "
              f"{'block d p50 ms':>14} {'p95 ms':>7} {'batch b p50 ms':>14}")
        for bits in sweep:
            delays, batches, stale, main, rates = experiment_figures(three, rounds=rounds, bits=bits,
                                                                     timeout=60 + 20 * rounds)
            delays_by_bits[bits] = delays
            delay = statistics.median(delays) if delays else float("nan")
            batch = statistics.median(batches) if batches else float("nan")
            search = 2**bits / statistics.median(rates) if rates else float("nan")
            model = predicted_stale_rate(len(three), delay, batch, search) if delays and batches and rates else float("nan")
            print(f"{bits:>4} {main:>6} {stale:>5} {stale / (main + stale):>10.3f} {model:>6.3f} {search:>10.4f} "
                  f"{1000 * delay:>14.1f} {1000 * percentile(delays, 0.95):>7.1f} {1000 * batch:>14.1f}")
    finally:
        stop(three)
    five = peered(base / "five", 5)
    try:
        start(five)
        delays5, _, stale5, main5, _ = experiment_figures(five, rounds=rounds, bits=five_bits, timeout=60 + 30 * rounds)
    finally:
        stop(five)
    delays3 = delays_by_bits[five_bits]
    return {3: delays3, 5: delays5}, (stale5, main5)


def build_source(node, blocks):
    node.data_dir.mkdir(parents=True, exist_ok=True)
    node.manage("migrate", "-v0", "--noinput")
    node.manage("shell", "-c", (
        "from apps.ledger.synthetic import SyntheticChain; "
        f"SyntheticChain(planned_blocks={blocks}).grow_to({blocks})"
    ), timeout=600)


def local_import_seconds(base, export_path, index):
    """Seconds `chain_import` takes to check and store the exported chain in an empty database (in one process,
    Django's start-up not counted)."""
    node = Node(base, f"import{index}")
    node.data_dir.mkdir(parents=True, exist_ok=True)
    node.manage("migrate", "-v0", "--noinput")
    script = (
        "import json, time; from apps.ledger.exchange import chain_import; "
        f"data = json.load(open({str(export_path)!r})); started = time.perf_counter(); chain_import(data); "
        "print(time.perf_counter() - started)"
    )
    return float(node.manage("shell", "-c", script, timeout=600).stdout.strip().splitlines()[-1])


def sync_seconds(base, source, index, tip_hash, timeout):
    node = Node(base, f"sync{index}")
    node.peers = [source.url]
    node.start()
    try:
        started = time.monotonic()
        wait(lambda: (node.tip() or {}).get("hash") == tip_hash, timeout, f"{node.name} to sync")
        return time.monotonic() - started
    finally:
        node.stop()


def section_sync(base, *, blocks, repeat):
    print(f"== sync of {blocks} blocks from one peer, against importing them locally (interleaved, medians)")
    source = Node(base, "source")
    build_source(source, blocks)
    export_path = base / "chain.json"
    export_path.write_text(source.manage("export_chain", "-", timeout=600).stdout)
    source.start()
    try:
        tip_hash = source.tip()["hash"]
        synced, imported = [], []
        for index in range(repeat):
            synced.append(sync_seconds(base, source, index, tip_hash, timeout=30 + blocks // 5))
            imported.append(local_import_seconds(base, export_path, index))
            print(f"   run {index + 1}: sync {synced[-1]:.2f} s, local import {imported[-1]:.2f} s")
    finally:
        source.stop()
    sync, local = statistics.median(synced), statistics.median(imported)
    per_thousand = 1000 / blocks
    print(f"sync: {sync * per_thousand:.2f} s per 1,000 blocks; local import: {local * per_thousand:.2f} s per 1,000 "
          f"blocks; sync / local = {sync / local:.2f}x")
    return local / blocks


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and blocks")
    parser.add_argument("--only", choices=["propagation", "sync"], help="one section (default: both)")
    args = parser.parse_args()
    rounds = 6 if args.quick else 10
    blocks, repeat = (300, 2) if args.quick else (1000, 3)
    sweep = (8, 12, 16, 18)
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the start")
    with tempfile.TemporaryDirectory(prefix="fedchain-bench-network-") as tmp:
        base = Path(tmp)
        if args.only != "sync":
            delays, (stale5, main5) = section_propagation_and_stale(base, rounds=rounds, sweep=sweep, five_bits=16)
        local_per_block = section_sync(base, blocks=blocks, repeat=repeat)
    if args.only == "sync":
        return
    print("== propagation, mined -> stored by every node (16 bits)")
    for count, samples in delays.items():
        p50, p95 = statistics.median(samples), percentile(samples, 0.95)
        print(f"{count} nodes: {len(samples)} blocks, p50 {1000 * p50:.1f} ms, p95 {1000 * p95:.1f} ms; "
              f"one node storing one block locally {1000 * local_per_block:.2f} ms: p50 = {p50 / local_per_block:.0f}x")
    print(f"5 nodes: {stale5} stale of {main5 + stale5} blocks")
    print(f"load average {os.getloadavg()[0]:.1f} at the end (2 cores: figures under load are slower, not wrong)")


if __name__ == "__main__":
    main()
