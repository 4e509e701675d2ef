"""Who mined a block: the mining node's signature of the block hash with its node key (apps.core.keys).

Not part of the chain (the block's bytes never name a node; records stay what the training determines): a
column beside the block, passed from node to node with the signature so each can check that the node named
did sign it. It shows who claims the block, not a proof of who found the nonce."""

from apps.core.keys import node_id, node_sign, public_key_from_hex, signature_valid

_DOMAIN = b"fedchain-mined/1:"


def mined_claim(hash_hex: str) -> tuple[str, str]:
    """(this node's id, its signature of the block hash in hex)."""
    return node_id(), node_sign(_DOMAIN + hash_hex.encode()).hex()


def mined_claim_valid(node: str, hash_hex: str, signature: str) -> bool:
    try:
        return signature_valid(public_key_from_hex(node), _DOMAIN + hash_hex.encode(), bytes.fromhex(signature))
    except ValueError:
        return False
