"""Signed checkpoints: an Ed25519 signature, by the node key, of a chain height and the block hash there.

The node key lives in the key directory, outside the data directory (apps/core/keys.py), so whoever can write
the database can re-mine a tail of the chain but cannot sign the checkpoints that would make the re-mined tail
pass. Anyone holding the node's public key can verify them; verifying needs no secret.

Earlier versions signed with HMAC-SHA256 under a key that by default was the secret key in the data directory
(`legacy_checkpoint_valid`); migration 0004 re-signs those whose HMAC verifies, once.
"""

import hashlib
import hmac

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

_DOMAIN = b"fedchain-checkpoint/2"
_LEGACY_DOMAIN = b"fedchain-checkpoint/1"
SIGNATURE_HEX_LENGTH = 128


def checkpoint_message(height: int, hash_hex: str) -> bytes:
    """The signed bytes: `fedchain-checkpoint/2:<height in decimal>:<block hash, display hex>`."""
    return b"%s:%d:%s" % (_DOMAIN, height, hash_hex.encode())


def checkpoint_signature(private_key: Ed25519PrivateKey, height: int, hash_hex: str) -> str:
    return private_key.sign(checkpoint_message(height, hash_hex)).hex()


def checkpoint_valid(public_key: Ed25519PublicKey, height: int, hash_hex: str, signature) -> bool:
    if not isinstance(signature, str) or len(signature) != SIGNATURE_HEX_LENGTH or not isinstance(hash_hex, str):
        return False
    try:
        public_key.verify(bytes.fromhex(signature), checkpoint_message(height, hash_hex))
    except (InvalidSignature, ValueError):
        return False
    return True


def legacy_checkpoint_valid(key: bytes, height: int, hash_hex: str, signature) -> bool:
    """An earlier version's HMAC-SHA256 checkpoint (only read to upgrade it)."""
    if not isinstance(signature, str):
        return False
    expected = hmac.new(key, b"%s:%d:%s" % (_LEGACY_DOMAIN, height, hash_hex.encode()), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)
