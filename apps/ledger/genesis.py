"""The fixed genesis block: every install with the same chain parameters derives the same one."""

import functools
from dataclasses import dataclass

from .header import BlockHeader, display_hex
from .merkle import merkle_root
from .pow import bits_to_target, search
from .records import canonical_bytes, coinbase_record
from .params import ChainParams

GENESIS_TIME = 1735689600  # 2025-01-01T00:00:00Z
BLOCK_VERSION = 1


@dataclass(frozen=True)
class Genesis:
    header: BlockHeader
    records: tuple[dict, ...]
    record_bytes: tuple[bytes, ...]
    header_bytes: bytes
    digest: bytes

    @property
    def hash_hex(self) -> str:
        return display_hex(self.digest)


@functools.cache
def genesis_block(params: ChainParams) -> Genesis:
    coinbase = coinbase_record(
        height=0, experiment_id=None, round_number=None, parent_model=None, difficulty_bits=params.pow_limit_bits
    )
    record_bytes = (canonical_bytes(coinbase),)
    template = BlockHeader(
        version=BLOCK_VERSION,
        prev_hash=bytes(32),
        merkle_root=merkle_root(record_bytes),
        time=GENESIS_TIME,
        bits=params.pow_limit_compact,
        nonce=0,
    )
    # Deterministic: the first nonce from 0 that meets the pow limit.
    header = search(template, target=bits_to_target(template.bits)).header
    raw = header.serialize()
    return Genesis(header, (coinbase,), record_bytes, raw, header.hash())
