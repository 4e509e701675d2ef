"""Cost of validating the chain: full verification per block, and the incremental check of one new block,
as the chain grows. Measured in the same run on one database.

A synthetic chain (apps/ledger/synthetic.py: valid blocks of 10 records, the coinbase, 8 client updates and the
global model, four experiments taking turns) is built, then:

- `chain_verify()` (what `manage.py verify_chain` runs: every hash, root, target and rule recomputed from the
  stored bytes, signed checkpoints included) at 1,000 and at 10,000 blocks: the cost per block must stay flat
  (within 1.3x);
- `block_check()` (the incremental validation `block_append` runs on a new block) of the block at height 100 and
  of the one at 10,000: within 2x;
- one `watch_chain` pass over the whole chain (informational): a check that finds nothing changed.

Exits 1 when a target is missed.

    .venv/bin/python bench/verify.py            # 1,000 and 10,000 blocks
    .venv/bin/python bench/verify.py --quick    # 300 and 3,000 blocks
"""

import argparse
import shutil
import statistics
import sys
import time

from _django import setup_django

DATA_DIR = setup_django("verify")

from apps.ledger import store, watch  # noqa: E402
from apps.ledger.synthetic import SyntheticChain  # noqa: E402

EARLY = 100


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 and 3,000 blocks instead of 1,000 and 10,000")
    args = parser.parse_args()
    small, large = (300, 3_000) if args.quick else (1_000, 10_000)
    chain = SyntheticChain(planned_blocks=large, clients=8)
    started = time.perf_counter()
    incremental = {EARLY: incremental_check(chain, EARLY)}
    full = {}
    for size in (small, large):
        if size == large:
            incremental[large] = incremental_check(chain, large)
        chain.grow_to(size)
        assert watch.chain_verify().valid
        best, median = timed(watch.chain_verify, 3)
        full[size] = best / (size + 1)
        print(f"chain of {size:>6} blocks: verify_chain {best:.2f} s (median {median:.2f} s), "
              f"{full[size] * 1e3:.3f} ms per block")
    print(f"(building the chain took {time.perf_counter() - started:.1f} s)")
    watcher = watch.ChainWatcher()
    watcher.check()
    best, _ = timed(watcher.check, 3)
    print(f"watch_chain pass over {large} unchanged blocks: {best:.2f} s")

    flat = full[large] / full[small]
    growth = incremental[large][0] / incremental[EARLY][0]
    print()
    for height in (EARLY, large):
        fastest, median = incremental[height]
        print(f"incremental check of block {height:>6}: {fastest * 1e3:.2f} ms (median {median * 1e3:.2f})")
    print(f"full verification, cost per block at {large} / at {small}: {flat:.2f}x   (target <= 1.3x)")
    print(f"incremental check, block {large} / block {EARLY}:        {growth:.2f}x   (target <= 2x)")
    missed = [name for name, ok in (("per-block cost", flat <= 1.3), ("incremental check", growth <= 2)) if not ok]
    print("targets met" if not missed else f"MISSED: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    try:
        code = main()
    finally:
        shutil.rmtree(DATA_DIR, ignore_errors=True)
    sys.exit(code)
