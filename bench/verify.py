"""Cost of validating the chain: full verification per block, and the incremental check of one new block,
as the chain grows. Measured in the same run on one database.

A chain of 10-record blocks (coinbase, client updates, global model, reward; four experiments taking turns) is
built with the ledger's own code (rules and storage), then:

- `chain_verify()` (what `manage.py verify_chain` runs: every hash, root, target and rule recomputed from the
  stored bytes, signed checkpoints included) at 1,000 and at 10,000 blocks: the cost per block must stay flat
  (within 1.3x);
- `block_check()` (the incremental validation `block_append` runs on a new block) of the block at height 100 and
  of the one at 10,000: within 2x;
- one `watch_chain` pass (informational): a check that finds nothing changed.

Exits 1 when a target is missed.

    .venv/bin/python bench/verify.py            # 1,000 and 10,000 blocks
    .venv/bin/python bench/verify.py --quick    # 300 and 3,000 blocks
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ["FEDCHAIN_DATA_DIR"] = tempfile.mkdtemp(prefix="fedchain-bench-verify-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fedchain_site.settings")
for name in ("DATABASE_URL", "REDIS_URL"):
    os.environ.pop(name, None)

import django  # noqa: E402

django.setup()

import hashlib  # noqa: E402

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402

from apps.ledger import services  # noqa: E402
from apps.ledger.genesis import BLOCK_VERSION, genesis_block  # noqa: E402
from apps.ledger.header import BlockHeader  # noqa: E402
from apps.ledger.merkle import merkle_root  # noqa: E402
from apps.ledger.models import Block  # noqa: E402
from apps.ledger.pow import search  # noqa: E402
from apps.ledger.records import (  # noqa: E402
    canonical_bytes,
    client_update_record,
    coinbase_record,
    experiment_record,
    global_model_record,
    reward_record,
)
from apps.ledger.retarget import block_bits, required_bits  # noqa: E402
from apps.ledger.rules import BlockData, ChainWalker, Rules  # noqa: E402

EXPERIMENTS = 4
RECORDS_PER_BLOCK = 10


def digest(*parts):
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def round_records(experiment_id, round_number):
    """Nine records; with the coinbase, ten."""
    records = [global_model_record(
        experiment_id=experiment_id, round_number=round_number, model=digest("model", experiment_id, round_number),
        aggregator="fedavg", loss=0.25, accuracy=0.9,
    ), reward_record(experiment_id=experiment_id, round_number=round_number, client="client-0", amount=1.0)]
    if round_number == 0:
        records.append(experiment_record(experiment_id=experiment_id, config={"dataset": "digits", "clients": 7}))
    clients = RECORDS_PER_BLOCK - 1 - len(records)
    records[:0] = [
        client_update_record(
            experiment_id=experiment_id, round_number=round_number, client=f"client-{k}", samples=200,
            update=digest("update", experiment_id, round_number, k), metrics={"loss": 0.5, "accuracy": 0.8},
            accepted=True, worker="w1",
        )
        for k in range(clients)
    ]
    return records


class ChainBuilder:
    """Mines blocks at the lowest difficulty, one second apart (on schedule: no retarget moves), ending about
    now, and stores them with the ledger's own storage code."""

    def __init__(self, total):
        self.params = services.chain_params()
        services.genesis_ensure()
        genesis = genesis_block(self.params)
        self.walker = ChainWalker(Rules(self.params, now=int(time.time())))
        self.walker.add(BlockData(0, genesis.header_bytes, genesis.record_bytes))
        self.next_time = int(time.time()) - total - 10
        self.rounds = {}

    def candidate(self):
        """The next block's header and records, mined but not stored."""
        tip = self.walker.tip
        height = tip.height + 1
        experiment_id = height % EXPERIMENTS + 1
        round_number = self.rounds.get(experiment_id, -1) + 1
        parent = None if round_number == 0 else digest("model", experiment_id, round_number - 1)
        records = [
            coinbase_record(height=height, experiment_id=experiment_id, round_number=round_number,
                            parent_model=parent, difficulty_bits=self.params.pow_limit_bits),
            *round_records(experiment_id, round_number),
        ]
        required = required_bits(height=height, parent_required_bits=tip.required_bits, recent_times=tip.times, params=self.params)
        header = BlockHeader(
            BLOCK_VERSION, tip.digest, merkle_root([canonical_bytes(r) for r in records]), self.next_time,
            block_bits(required=required, difficulty_bits=self.params.pow_limit_bits), 0,
        )
        return search(header).header, records

    def store(self, header, records):
        record_bytes = [canonical_bytes(r) for r in records]
        checked = self.walker.add(BlockData(self.walker.tip.height + 1, header.serialize(), record_bytes))
        # Stored as block_append stores a block, without re-running the checks the walker just ran.
        block = services._block_store(checked, record_bytes, status=Block.Status.MAIN)
        services.checkpoint_sign(block=block)
        self.rounds[checked.experiment_id] = checked.round_number
        self.next_time += 1

    def grow_to(self, height, *, before_storing=None):
        while self.walker.tip.height < height:
            with transaction.atomic():
                for _ in range(min(500, height - self.walker.tip.height)):
                    header, records = self.candidate()
                    if before_storing is not None:
                        before_storing(self.walker.tip.height + 1, header, records)
                    self.store(header, records)


def timed(function, repeat):
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return min(samples), statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 and 3,000 blocks instead of 1,000 and 10,000")
    args = parser.parse_args()
    small, large = (300, 3_000) if args.quick else (1_000, 10_000)
    early = 100
    call_command("migrate", verbosity=0)
    builder = ChainBuilder(large)
    incremental = {}

    def measure_incremental(height, header, records):
        if height in (early, large):
            incremental[height] = timed(lambda: services.block_check(header=header, records=records), 30)

    full = {}
    started = time.perf_counter()
    for size in (small, large):
        builder.grow_to(size, before_storing=measure_incremental)
        assert services.chain_verify().valid
        best, median = timed(services.chain_verify, 3)
        full[size] = best / (size + 1)
        print(f"chain of {size:>6} blocks: verify_chain {best:.2f} s (median {median:.2f} s), "
              f"{full[size] * 1e3:.3f} ms per block")
    print(f"(building the chain took {time.perf_counter() - started:.1f} s)")
    watcher = services.ChainWatcher()
    watcher.check()
    best, _ = timed(watcher.check, 3)
    print(f"watch_chain pass over {large} unchanged blocks: {best:.2f} s")

    flat = full[large] / full[small]
    growth = incremental[large][0] / incremental[early][0]
    print()
    print(f"incremental check of block {early:>6}: {incremental[early][0] * 1e3:.2f} ms (median {incremental[early][1] * 1e3:.2f})")
    print(f"incremental check of block {large:>6}: {incremental[large][0] * 1e3:.2f} ms (median {incremental[large][1] * 1e3:.2f})")
    print(f"full verification, cost per block at {large} / at {small}: {flat:.2f}x   (target <= 1.3x)")
    print(f"incremental check, block {large} / block {early}:        {growth:.2f}x   (target <= 2x)")
    missed = [name for name, ok in (("per-block cost", flat <= 1.3), ("incremental check", growth <= 2)) if not ok]
    print("targets met" if not missed else f"MISSED: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    try:
        code = main()
    finally:
        shutil.rmtree(os.environ["FEDCHAIN_DATA_DIR"], ignore_errors=True)
    sys.exit(code)
