"""Explorer latency as the chain grows: the block list, a block, a record (with its inclusion proof) and a search,
each through the full Django stack (middleware, view, template or JSON), with 1,000 and with 100,000 blocks in
the same SQLite database, in the same run. Target: each request at 100,000 blocks within 1.5x of its latency at
1,000, judged on the CPU time the request takes (wall time is printed beside it: on a machine shared with other
work it also counts the time spent waiting for a CPU).

The chain is a synthetic one (apps/ledger/synthetic.py): every block mined, checked by the ledger's rule engine
and stored with its signed checkpoint as the ledger stores it, so `verify_chain` accepts it. To build 100,000
blocks in a minute rather than an hour the rows are written in bulk (not one `block_append` transaction per
block), and the chain's pow limit is set to 1 leading zero bit (FEDCHAIN_POW_LIMIT_BITS=1, about two hashes per
block): the blocks are really mined and valid, at a trivial difficulty. Each block holds a round of one of four
experiments: a coinbase, three client updates and the global model.

    .venv/bin/python bench/explorer.py            # 1,000 and 100,000 blocks
    .venv/bin/python bench/explorer.py --quick    # 1,000 and 10,000 blocks

Exits 1 when a target is missed.
"""

import argparse
import os
import random
import statistics
import time

from _django import run_and_remove, setup_django

DATA_DIR = setup_django(
    "explorer",
    environ={
        "FEDCHAIN_POW_LIMIT_BITS": "1",
        # Measured as served in production: DEBUG off (no query log, no debug pages), over HTTPS.
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or "bench-" + os.urandom(24).hex(),
    },
)

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from apps.ledger import watch  # noqa: E402
from apps.ledger.models import Block, Record  # noqa: E402
from apps.ledger.synthetic import SyntheticChain, digest  # noqa: E402

# As a production install does before serving (the web process refuses to serve pages without the manifest).
call_command("collectstatic", interactive=False, verbosity=0)

EXPERIMENTS = 4
CLIENTS = 3
BATCH = 2_000  # blocks written per transaction
TARGET = 1.5


def requests_for(tip_height, rng, samples):
    """Per kind of request, `samples` URLs naming things spread over the whole chain."""
    heights = [rng.randrange(1, tip_height + 1) for _ in range(samples)]
    blocks = dict(Block.objects.filter(status=Block.Status.MAIN, height__in=heights).values_list("height", "hash"))
    txids = [Record.objects.filter(block__height=h, block__status=Block.Status.MAIN).values_list("txid", flat=True)
             .get(position=2) for h in heights]
    list_starts = [rng.randrange(40, tip_height + 1) for _ in range(samples)]
    return {
        "block list (JSON)": ["/api/blocks/"] + [f"/api/blocks/?before={h}" for h in list_starts[1:]],
        "block list (page)": ["/blocks/"] + [f"/blocks/?before={h}" for h in list_starts[1:]],
        "block (JSON)": [f"/api/blocks/{blocks[h]}/" for h in heights],
        "block (page)": [f"/blocks/{h}/" for h in heights],
        "record (JSON)": [f"/api/tx/{txid}/" for txid in txids],
        "record proof (JSON)": [f"/api/tx/{txid}/proof/" for txid in txids],
        "record (page)": [f"/tx/{txid}/" for txid in txids],
        "search: height": [f"/search?q={h}" for h in heights],
        "search: block hash": [f"/search?q={blocks[h]}" for h in heights],
        "search: txid": [f"/search?q={txid}" for txid in txids],
        "search: nothing found": [f"/search?q={digest('absent', h)}" for h in heights],
    }


def latencies(client, requests, repeat):
    """Seconds per request of each kind, as (CPU time, wall time): every URL's best of `repeat` tries, the tries
    spread over the whole measurement (so a burst of other work on the machine cannot spoil all of them), then
    the median over the kind's URLs."""
    best = {}
    for _ in range(repeat):
        for kind, urls in requests.items():
            for url in urls:
                cpu, wall = time.process_time(), time.perf_counter()
                response = client.get(url, secure=True)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                if response.status_code not in (200, 302):
                    raise SystemExit(f"{url} answered {response.status_code}: {response.content[:300]!r}")
                previous = best.get((kind, url), (cpu, wall))
                best[kind, url] = (min(cpu, previous[0]), min(wall, previous[1]))
    return {
        kind: tuple(statistics.median(best[kind, url][index] for url in urls) for index in (0, 1))
        for kind, urls in requests.items()
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 blocks instead of 1,000 and 100,000")
    args = parser.parse_args()
    small, large = (1_000, 10_000) if args.quick else (1_000, 100_000)
    rng = random.Random(7)
    client = Client(HTTP_HOST="localhost")
    chain = SyntheticChain(planned_blocks=large, experiments=EXPERIMENTS, clients=CLIENTS)
    results = {}
    for size in (small, large):
        started = time.perf_counter()
        chain.grow_to(size, batch=BATCH)
        print(f"built the chain to height {size} in {time.perf_counter() - started:.1f} s")
        if size == small:  # the chain is one the ledger accepts (at the larger size this would take a minute)
            assert watch.chain_verify().valid, "verify_chain rejects the synthetic chain"
        requests = {**requests_for(size, rng, samples=20), "chain (JSON, informational)": ["/api/chain/"]}
        results[size] = latencies(client, requests, repeat=7)
    print()
    print(f"{'request':<28}{'CPU time per request':>34}{'ratio':>8}{'wall time per request':>36}{'ratio':>8}")
    print(f"{'':<28}{small:>9,} blocks{large:>10,} blocks{'':>8}{small:>11,} blocks{large:>10,} blocks")
    missed = []
    for kind in results[small]:
        (cpu_small, wall_small), (cpu_large, wall_large) = results[small][kind], results[large][kind]
        ratio = cpu_large / cpu_small
        checked = "informational" not in kind
        if checked and ratio > TARGET:
            missed.append(kind)
        print(f"{kind:<28}{cpu_small * 1e3:>13.2f} ms{cpu_large * 1e3:>14.2f} ms{ratio:>7.2f}x"
              f"{wall_small * 1e3:>15.2f} ms{wall_large * 1e3:>14.2f} ms{wall_large / wall_small:>7.2f}x"
              f"{'' if checked else '  (not a target)'}")
    print(f"target: every request's CPU time at {large:,} blocks within {TARGET}x of that at {small:,} "
          "(wall time also counts waiting for a CPU other processes hold)")
    print("targets met" if not missed else f"MISSED: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    run_and_remove(main, DATA_DIR)
