"""Synthetic chains, built fast: valid blocks for benchmarks and load tests, never for real experiments.

Blocks are mined at the lowest difficulty, one second apart and ending before now (on schedule, so the retarget
rule never moves the difficulty), with experiments taking turns round by round. Each block is checked by the
rule engine as it is made, and the rows are written in bulk as the ledger stores them, signed checkpoints
included, so `verify_chain` accepts the result.
"""

import hashlib
import time

from django.db import transaction

from . import reads, store
from .genesis import BLOCK_VERSION, genesis_block
from .header import BlockHeader
from .merkle import merkle_root
from .pow import search
from .records import canonical_bytes, client_update_record, coinbase_record, experiment_record, global_model_record
from .retarget import block_bits, required_bits
from .rules import BlockData, ChainWalker, Rules


def digest(*parts) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def model_hash(experiment_id, round_number) -> str:
    return digest("model", experiment_id, round_number)


def round_records(experiment_id, round_number, *, clients=7) -> list[dict]:
    """A round's records after the coinbase: the experiment record in round 0, one update per client, the
    global model."""
    records = [experiment_record(experiment_id=experiment_id, config={"clients": clients})] if round_number == 0 else []
    records += [
        client_update_record(
            experiment_id=experiment_id, round_number=round_number, client=f"client-{k}", samples=200,
            update=digest("update", experiment_id, round_number, k), metrics={"loss": 0.5, "accuracy": 0.8},
            accepted=True,
        )
        for k in range(clients)
    ]
    records.append(
        global_model_record(
            experiment_id=experiment_id, round_number=round_number, model=model_hash(experiment_id, round_number),
            aggregator="fedavg", loss=0.25, accuracy=0.9,
        )
    )
    return records


class SyntheticChain:
    """Grows the stored chain (which must hold only the genesis block, or blocks this object wrote)."""

    def __init__(self, *, planned_blocks, experiments=4, clients=7):
        self.params = reads.chain_params()
        self.experiments = experiments
        self.clients = clients
        store.genesis_ensure()
        genesis = genesis_block(self.params)
        self.walker = ChainWalker(Rules(self.params, now=int(time.time())))
        self.walker.add(BlockData(0, genesis.header_bytes, genesis.record_bytes))
        self.next_time = int(time.time()) - planned_blocks - 10
        self.rounds = {}

    @property
    def height(self) -> int:
        return self.walker.tip.height

    def candidate(self) -> tuple[BlockHeader, list[dict]]:
        """The next block, mined, neither checked nor stored."""
        tip = self.walker.tip
        height = tip.height + 1
        experiment_id = height % self.experiments + 1
        round_number = self.rounds.get(experiment_id, -1) + 1
        records = [
            coinbase_record(
                height=height, experiment_id=experiment_id, round_number=round_number,
                parent_model=None if round_number == 0 else model_hash(experiment_id, round_number - 1),
                difficulty_bits=self.params.pow_limit_bits,
            ),
            *round_records(experiment_id, round_number, clients=self.clients),
        ]
        required = required_bits(height=height, parent_required_bits=tip.required_bits, recent_times=tip.times, params=self.params)
        template = BlockHeader(
            BLOCK_VERSION, tip.digest, merkle_root([canonical_bytes(r) for r in records]), self.next_time,
            block_bits(required=required, difficulty_bits=self.params.pow_limit_bits), 0,
        )
        return search(template).header, records

    def grow_to(self, height, *, batch=1000):
        """Adds blocks up to `height`, `batch` blocks per transaction."""
        while self.height < height:
            checked = []
            for _ in range(min(batch, height - self.height)):
                header, records = self.candidate()
                record_bytes = [canonical_bytes(r) for r in records]
                block = self.walker.add(BlockData(self.height + 1, header.serialize(), record_bytes))
                self.rounds[block.experiment_id] = block.round_number
                self.next_time += 1
                checked.append(block)
            with transaction.atomic():
                store.blocks_store_checked(checked)
