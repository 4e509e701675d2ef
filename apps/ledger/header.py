"""The 80-byte block header, laid out exactly as Bitcoin's.

version (u32 LE) | previous hash (32) | Merkle root (32) | time (u32 LE) | bits (u32 LE) | nonce (u32 LE)

Digests are kept raw, as computed (the previous hash is the parent's SHA-256d digest, not reversed); only
their display form is byte-reversed hex, as Bitcoin shows block hashes.
"""

import hashlib
import struct
from dataclasses import dataclass

HEADER_SIZE = 80
DIGEST_SIZE = 32
UINT32_MAX = 0xFFFFFFFF
_LAYOUT = struct.Struct("<I32s32sIII")


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def display_hex(digest: bytes) -> str:
    """A block hash as Bitcoin displays it: the digest's bytes reversed, in hex."""
    if len(digest) != DIGEST_SIZE:
        raise ValueError(f"a digest is {DIGEST_SIZE} bytes, got {len(digest)}")
    return digest[::-1].hex()


def parse_display_hex(text: str) -> bytes:
    """The raw digest behind a displayed block hash (64 hex characters)."""
    if not isinstance(text, str):
        raise ValueError(f"a block hash is a string of 64 hex characters, got {type(text).__name__}")
    if len(text) != 2 * DIGEST_SIZE:
        raise ValueError(f"a block hash is 64 hex characters, got {len(text)}: {text[:80]!r}")
    try:
        return bytes.fromhex(text)[::-1]
    except ValueError:
        raise ValueError(f"a block hash is 64 hex characters (0-9, a-f), got {text!r}") from None


@dataclass(frozen=True, slots=True)
class BlockHeader:
    version: int
    prev_hash: bytes
    merkle_root: bytes
    time: int
    bits: int
    nonce: int

    def __post_init__(self):
        for name in ("version", "time", "bits", "nonce"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= UINT32_MAX:
                raise ValueError(f"header {name} must be an unsigned 32-bit integer, got {value!r}")
        for name in ("prev_hash", "merkle_root"):
            value = getattr(self, name)
            if not isinstance(value, bytes) or len(value) != DIGEST_SIZE:
                raise ValueError(f"header {name} must be {DIGEST_SIZE} raw bytes, got {value!r}")

    def serialize(self) -> bytes:
        return _LAYOUT.pack(self.version, self.prev_hash, self.merkle_root, self.time, self.bits, self.nonce)

    @classmethod
    def parse(cls, raw: bytes) -> "BlockHeader":
        if not isinstance(raw, (bytes, bytearray, memoryview)):
            raise ValueError(f"a block header is {HEADER_SIZE} bytes, got {type(raw).__name__}")
        raw = bytes(raw)
        if len(raw) != HEADER_SIZE:
            raise ValueError(f"a block header is {HEADER_SIZE} bytes, got {len(raw)}")
        return cls(*_LAYOUT.unpack(raw))

    @classmethod
    def from_hex(cls, text: str) -> "BlockHeader":
        """A header from the hex of its 80 raw bytes (as in an exported chain)."""
        if not isinstance(text, str):
            raise ValueError(f"a header is {2 * HEADER_SIZE} hex characters, got {type(text).__name__}")
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise ValueError(f"a header is {2 * HEADER_SIZE} hex characters (0-9, a-f), got {text[:40]!r}...") from None
        return cls.parse(raw)

    def hash(self) -> bytes:
        """The raw SHA-256d digest of the serialized header."""
        return sha256d(self.serialize())

    def hash_hex(self) -> str:
        return display_hex(self.hash())
