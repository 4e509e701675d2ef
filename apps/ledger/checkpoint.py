"""Signed checkpoints: HMAC-SHA256 over a chain height and the block hash there.

The key lives outside the database (the environment), so whoever can write the database can re-mine a tail of
the chain but cannot sign the checkpoints that would make the re-mined tail pass.
"""

import hashlib
import hmac

_DOMAIN = b"fedchain-checkpoint/1"


def _message(height: int, hash_hex: str) -> bytes:
    return b"%s:%d:%s" % (_DOMAIN, height, hash_hex.encode())


def checkpoint_signature(key: bytes, height: int, hash_hex: str) -> str:
    return hmac.new(key, _message(height, hash_hex), hashlib.sha256).hexdigest()


def checkpoint_valid(key: bytes, height: int, hash_hex: str, signature: str) -> bool:
    if not isinstance(signature, str):
        return False
    return hmac.compare_digest(checkpoint_signature(key, height, hash_hex), signature)
