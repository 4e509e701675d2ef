"""Proof of work: compact targets, work, and the nonce search.

The search hashes with a SHA-256 midstate of the header's first 64 bytes (version, previous hash and most of the
Merkle root never change while mining), so each nonce costs one compression of the last 16 bytes plus the second
SHA-256. The digest is compared as a little-endian integer with the target, as Bitcoin does. Python's interpreter,
not the hash, is the cost, so the inner loop stays minimal and everything else happens between chunks of nonces.

The search runs in one process: mining scales across cores as worker processes each run a mine job, while
training runs beside it. Splitting one block's nonce space over processes paid off for no workload the product
runs (blocks are found within a second or two at the difficulties the retarget reaches), so it is not done.
"""

import hashlib
import struct
import time as time_module
from collections.abc import Callable
from dataclasses import dataclass, replace

from .header import UINT32_MAX, BlockHeader

NONCE_SPACE = 1 << 32
MAX_TARGET = (1 << 256) - 1


def bits_to_target(bits: int) -> int:
    """Decodes a compact target (Bitcoin's nBits); a negative or overflowing encoding is a ValueError."""
    if not isinstance(bits, int) or not 0 <= bits <= UINT32_MAX:
        raise ValueError(f"compact bits are an unsigned 32-bit integer, got {bits!r}")
    size = bits >> 24
    word = bits & 0x007FFFFF
    if word and bits & 0x00800000:
        raise ValueError(f"compact bits {bits:#010x} encode a negative target")
    if word and (size > 34 or (word > 0xFF and size > 33) or (word > 0xFFFF and size > 32)):
        raise ValueError(f"compact bits {bits:#010x} encode a target above 2**256")
    if size <= 3:
        return word >> (8 * (3 - size))
    return word << (8 * (size - 3))


def target_to_bits(target: int) -> int:
    """Encodes a target in compact form, keeping its three most significant bytes (Bitcoin's GetCompact)."""
    if not isinstance(target, int) or not 0 <= target <= MAX_TARGET:
        raise ValueError(f"a target is an integer from 0 to 2**256 - 1, got {target!r}")
    size = (target.bit_length() + 7) // 8
    if size <= 3:
        word = target << (8 * (3 - size))
    else:
        word = target >> (8 * (size - 3))
    if word & 0x00800000:  # the sign bit: move one byte up
        word >>= 8
        size += 1
    return word | (size << 24)


def target_for_zero_bits(zero_bits: int) -> int:
    """The target that asks for `zero_bits` leading zero bits in the hash: 2**(256 - zero_bits), capped to 256 bits."""
    if not isinstance(zero_bits, int) or isinstance(zero_bits, bool) or not 0 <= zero_bits <= 255:
        raise ValueError(f"difficulty bits must be an integer from 0 to 255, got {zero_bits!r}")
    return min(1 << (256 - zero_bits), MAX_TARGET)


def block_work(bits: int) -> int:
    """Expected number of hashes to meet the target: 2**256 / (target + 1), as Bitcoin's chainwork counts it."""
    return (1 << 256) // (bits_to_target(bits) + 1)


def hash_value(digest: bytes) -> int:
    return int.from_bytes(digest, "little")


def meets_target(digest: bytes, target: int) -> bool:
    return int.from_bytes(digest, "little") <= target


@dataclass(frozen=True)
class SearchResult:
    header: BlockHeader | None  # None when the search was stopped
    nonces: int
    seconds: float
    hash_rate: float


def _scan(base, tail: bytes, target: int, start: int, stop: int) -> int | None:
    """The first nonce in [start, stop) whose header hash meets the target. Kept bare on purpose."""
    copy = base.copy
    sha256 = hashlib.sha256
    pack = struct.Struct("<I").pack
    from_bytes = int.from_bytes
    for nonce in range(start, stop):
        h = copy()
        h.update(tail + pack(nonce))
        if from_bytes(sha256(h.digest()).digest(), "little") <= target:
            return nonce
    return None


def search(
    header: BlockHeader,
    *,
    target: int | None = None,
    first_nonce: int = 0,
    nonce_stop: int = NONCE_SPACE,
    should_stop: Callable[[], bool] | None = None,
    on_progress: Callable[[dict], None] | None = None,
    progress_seconds: float = 0.5,
    chunk: int = 1 << 15,
) -> SearchResult:
    """Searches nonces first_nonce..nonce_stop-1; when they are exhausted, bumps the time by a second and
    starts again. Returns the mined header, or a result with header None once should_stop() is true.

    should_stop is polled between chunks (tens of milliseconds apart), so it must be cheap. on_progress gets
    {nonces, hash_rate, expected, time} about every progress_seconds.
    """
    if target is None:
        target = bits_to_target(header.bits)
    if not 0 <= first_nonce < nonce_stop <= NONCE_SPACE:
        raise ValueError(f"nonce range [{first_nonce}, {nonce_stop}) is not within 0..2**32")
    expected = (1 << 256) / (target + 1)
    raw = header.serialize()
    base = hashlib.sha256(raw[:64])
    tried = 0
    started = last_report = time_module.monotonic()
    current = header
    while True:
        tail = current.serialize()[64:76]
        start = first_nonce
        while start < nonce_stop:
            stop = min(start + chunk, nonce_stop)
            found = _scan(base, tail, target, start, stop)
            if found is not None:
                tried += found - start + 1
                seconds = time_module.monotonic() - started
                return SearchResult(replace(current, nonce=found), tried, seconds, tried / max(seconds, 1e-9))
            tried += stop - start
            start = stop
            if should_stop is not None and should_stop():
                seconds = time_module.monotonic() - started
                return SearchResult(None, tried, seconds, tried / max(seconds, 1e-9))
            now = time_module.monotonic()
            if on_progress is not None and now - last_report >= progress_seconds:
                last_report = now
                elapsed = max(now - started, 1e-9)
                on_progress({"nonces": tried, "hash_rate": tried / elapsed, "expected": expected, "time": current.time})
        if current.time >= UINT32_MAX:
            raise ValueError("the header time cannot be bumped past 2**32 - 1")
        # Every nonce failed at this time: the next second gives a fresh search space.
        current = replace(current, time=current.time + 1)
