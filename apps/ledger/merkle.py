"""The RFC 6962 Merkle tree over a block's records, with inclusion proofs verified as RFC 9162 says.

leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right); the tree splits at the largest power of two
below n, so a lone last node is carried up, never duplicated (no CVE-2012-2459-style ambiguity).
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

EMPTY_ROOT = hashlib.sha256(b"").digest()
_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def _levels(hashes: list[bytes]) -> list[list[bytes]]:
    """Bottom-up levels of the tree. Pairing left to right and carrying a lone last node up gives exactly
    RFC 6962's split at the largest power of two (its left subtrees are always complete)."""
    levels = [hashes]
    while len(hashes) > 1:
        paired = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes) - 1, 2)]
        if len(hashes) % 2:
            paired.append(hashes[-1])
        levels.append(paired)
        hashes = paired
    return levels


def root_of_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    if not hashes:
        return EMPTY_ROOT
    return _levels(list(hashes))[-1][0]


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of the leaves' data (for a block: the records' canonical bytes)."""
    return root_of_leaf_hashes([leaf_hash(data) for data in leaves])


@dataclass(frozen=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    audit_path: tuple[bytes, ...]

    def as_dict(self) -> dict:
        return {
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "audit_path": [node.hex() for node in self.audit_path],
        }

    @classmethod
    def from_dict(cls, data) -> "InclusionProof":
        if not isinstance(data, dict):
            raise ValueError("an inclusion proof is an object with leaf_index, tree_size and audit_path")
        index, size, path = data.get("leaf_index"), data.get("tree_size"), data.get("audit_path")
        for name, value in (("leaf_index", index), ("tree_size", size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"inclusion proof {name} must be a non-negative integer, got {value!r}")
        if not isinstance(path, list):
            raise ValueError("inclusion proof audit_path must be a list of 64-character hex digests")
        nodes = []
        for node in path:
            try:
                raw = bytes.fromhex(node) if isinstance(node, str) else b""
            except ValueError:
                raw = b""
            if len(raw) != 32:
                raise ValueError(f"inclusion proof audit_path entries are 64 hex characters, got {node!r}")
            nodes.append(raw)
        return cls(index, size, tuple(nodes))


def inclusion_proof(leaves: Sequence[bytes], index: int) -> InclusionProof:
    """The audit path of leaf `index` (RFC 6962 PATH(m, D[n])), from the leaves' data."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf index {index} is outside a tree of {len(leaves)} leaves")
    path = []
    position = index
    for level in _levels([leaf_hash(data) for data in leaves])[:-1]:
        sibling = position ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        position //= 2
    return InclusionProof(index, len(leaves), tuple(path))


def verify_inclusion_hash(leaf_digest: bytes, proof: InclusionProof, root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2, step by step."""
    if proof.leaf_index >= proof.tree_size:
        return False
    fn, sn = proof.leaf_index, proof.tree_size - 1
    r = leaf_digest
    for p in proof.audit_path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_inclusion(leaf: bytes, proof: InclusionProof, root: bytes) -> bool:
    """Whether the leaf's data is in the tree with this root at the proof's position."""
    return verify_inclusion_hash(leaf_hash(leaf), proof, root)
