"""Explorer latency as the chain grows: the block list, a block, a record (with its inclusion proof) and a search,
each through the full Django stack (middleware, view, template or JSON), with 1,000 and with 100,000 blocks in
the same SQLite database, in the same run. Target: each request at 100,000 blocks within 1.5x of its latency at
1,000, judged on the CPU time the request takes (wall time is printed beside it: on a machine shared with other
work it also counts the time spent waiting for a CPU).

The chain is built with the ledger's own pure core: record builders, the RFC 6962 Merkle root, the nonce search
and the rule engine (`ChainWalker`), which derives every stored column, so each stored block is one the ledger's
rules accept. To build 100,000 blocks in a minute rather than an hour the rows are written with `bulk_create`
(not one `block_append` transaction per block), and the chain's pow limit is set to 1 leading zero bit
(FEDCHAIN_POW_LIMIT_BITS=1, about two hashes per block): the blocks are really mined and valid, at a trivial
difficulty. Each block holds a round of one of four experiments: a coinbase, three client updates and the global
model.

    .venv/bin/python bench/explorer.py            # 1,000 and 100,000 blocks
    .venv/bin/python bench/explorer.py --quick    # 1,000 and 10,000 blocks

Exits 1 when a target is missed.
"""

import argparse
import os
import random
import shutil
import statistics
import sys
import time

from _django import setup_django

DATA_DIR = setup_django(
    "explorer",
    environ={
        "FEDCHAIN_POW_LIMIT_BITS": "1",
        # Measured as served in production: DEBUG off (no query log, no debug pages), over HTTPS.
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or "bench-" + os.urandom(24).hex(),
    },
)

import hashlib  # noqa: E402

from django.db import transaction  # noqa: E402
from django.test import Client  # noqa: E402

from apps.ledger import services  # noqa: E402
from apps.ledger.genesis import BLOCK_VERSION, genesis_block  # noqa: E402
from apps.ledger.header import BlockHeader  # noqa: E402
from apps.ledger.merkle import merkle_root  # noqa: E402
from apps.ledger.models import Block, Record  # noqa: E402
from apps.ledger.pow import search  # noqa: E402
from apps.ledger.records import (  # noqa: E402
    canonical_bytes,
    client_update_record,
    coinbase_record,
    experiment_record,
    global_model_record,
)
from apps.ledger.retarget import block_bits, required_bits  # noqa: E402
from apps.ledger.rules import BlockData, ChainWalker, Rules  # noqa: E402

EXPERIMENTS = 4
CLIENTS = 3
BATCH = 2_000  # blocks written per transaction
TARGET = 1.5


def digest(*parts):
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def round_records(experiment_id, round_number):
    records = [
        client_update_record(
            experiment_id=experiment_id, round_number=round_number, client=k, samples=120,
            update=digest("update", experiment_id, round_number, k), metrics={"train_loss": 0.5},
            accepted=True, worker="bench",
        )
        for k in range(CLIENTS)
    ]
    if round_number == 0:
        records.insert(0, experiment_record(experiment_id=experiment_id, config={"dataset": "digits", "clients": CLIENTS}))
    records.append(global_model_record(
        experiment_id=experiment_id, round_number=round_number, model=digest("model", experiment_id, round_number),
        aggregator="fedavg", loss=0.25, accuracy=0.9,
    ))
    return records


class ChainBuilder:
    """Mines blocks one second apart (on schedule: the difficulty never moves), ending before now, checks each
    with the rule engine and writes the rows as the ledger stores them."""

    def __init__(self, total):
        self.params = services.chain_params()
        services.genesis_ensure()
        genesis = genesis_block(self.params)
        self.walker = ChainWalker(Rules(self.params, now=int(time.time())))
        self.walker.add(BlockData(0, genesis.header_bytes, genesis.record_bytes))
        self.next_time = int(time.time()) - total - 10
        self.rounds = {}

    def mine_next(self):
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
        record_bytes = [canonical_bytes(record) for record in records]
        required = required_bits(height=height, parent_required_bits=tip.required_bits, recent_times=tip.times,
                                 params=self.params)
        template = BlockHeader(
            BLOCK_VERSION, tip.digest, merkle_root(record_bytes), self.next_time,
            block_bits(required=required, difficulty_bits=self.params.pow_limit_bits), 0,
        )
        header = search(template).header
        checked = self.walker.add(BlockData(height, header.serialize(), record_bytes))
        self.rounds[experiment_id] = round_number
        self.next_time = header.time + 1
        return checked, record_bytes

    def grow_to(self, height):
        while self.walker.tip.height < height:
            mined = [self.mine_next() for _ in range(min(BATCH, height - self.walker.tip.height))]
            with transaction.atomic():
                blocks = Block.objects.bulk_create(block_row(checked) for checked, _ in mined)
                Record.objects.bulk_create(
                    record
                    for block, (checked, record_bytes) in zip(blocks, mined)
                    for record in record_rows(block, checked, record_bytes)
                )
        services.checkpoint_sign()


def block_row(checked):
    columns = checked.columns()
    return Block(
        height=checked.height, hash=columns["hash"], header=checked.header.serialize(), status=Block.Status.MAIN,
        version=columns["version"], prev_hash=columns["prev_hash"], merkle_root=columns["merkle_root"],
        time=columns["time"], bits=columns["bits"], nonce=columns["nonce"], required_bits=columns["required_bits"],
        chainwork=f"{checked.chainwork:064x}", experiment_id=checked.experiment_id,
        round_number=checked.round_number, difficulty_bits=checked.difficulty_bits,
        records_count=columns["records_count"],
    )


def record_rows(block, checked, record_bytes):
    for position, (data, record) in enumerate(zip(record_bytes, checked.records)):
        yield Record(
            block=block, position=position, body=data.decode(), txid=checked.txids[position], type=record["type"],
            experiment_id=checked.experiment_id, round_number=checked.round_number,
        )


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
    builder = ChainBuilder(large)
    results = {}
    for size in (small, large):
        started = time.perf_counter()
        builder.grow_to(size)
        print(f"built the chain to height {size} in {time.perf_counter() - started:.1f} s")
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
    try:
        code = main()
    finally:
        shutil.rmtree(DATA_DIR, ignore_errors=True)
    sys.exit(code)
