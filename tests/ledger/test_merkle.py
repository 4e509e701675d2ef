"""The RFC 6962 tree against Certificate Transparency's reference vectors, and proofs for every leaf."""

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.ledger.merkle import (
    EMPTY_ROOT,
    InclusionProof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    verify_inclusion,
)

# Certificate Transparency's merkle_tree_test.cc: leaves, and the root of the first n for n = 1..8.
CT_LEAVES = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, tree size, audit path) from the same tests.
CT_PATHS = [
    (0, 1, []),
    (0, 8, [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]),
    (5, 8, [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ]),
]


def reference_root(leaves):
    """RFC 6962 section 2.1, written as the recursion it defines."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((len(leaves) - 1).bit_length() - 1)  # largest power of two below n
    return hashlib.sha256(b"\x01" + reference_root(leaves[:k]) + reference_root(leaves[k:])).digest()


def test_empty_tree_is_the_hash_of_nothing():
    assert merkle_root([]) == EMPTY_ROOT == bytes.fromhex(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_certificate_transparency(size):
    assert merkle_root(CT_LEAVES[:size]).hex() == CT_ROOTS[size - 1]


@pytest.mark.parametrize("index, size, path", CT_PATHS)
def test_audit_paths_match_certificate_transparency(index, size, path):
    proof = inclusion_proof(CT_LEAVES[:size], index)
    assert [node.hex() for node in proof.audit_path] == path
    assert verify_inclusion(CT_LEAVES[index], proof, bytes.fromhex(CT_ROOTS[size - 1]))


def test_the_last_node_is_carried_up_not_duplicated():
    a, b, c = (leaf_hash(x) for x in (b"a", b"b", b"c"))
    assert merkle_root([b"a", b"b", b"c"]) == node_hash(node_hash(a, b), c)
    # Bitcoin's duplicated-last-node tree would make [a, b, c] and [a, b, c, c] collide.
    assert merkle_root([b"a", b"b", b"c"]) != merkle_root([b"a", b"b", b"c", b"c"])


def test_every_leaf_of_every_tree_from_1_to_200_proves_its_inclusion():
    for size in range(1, 201):
        leaves = [b"leaf %d of %d" % (i, size) for i in range(size)]
        root = merkle_root(leaves)
        assert root == reference_root(leaves)
        for index in range(size):
            proof = inclusion_proof(leaves, index)
            assert verify_inclusion(leaves[index], proof, root)
            assert not verify_inclusion(leaves[index] + b"!", proof, root)
            if size > 1:
                other = (index + 1) % size
                assert not verify_inclusion(leaves[other], proof, root)
                wrong_index = InclusionProof(other, size, proof.audit_path)
                assert not verify_inclusion(leaves[index], wrong_index, root)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=64), st.data())
def test_a_tampered_proof_never_verifies(leaves, data):
    index = data.draw(st.integers(0, len(leaves) - 1))
    root = merkle_root(leaves)
    proof = inclusion_proof(leaves, index)
    assert root == reference_root(leaves)
    assert verify_inclusion(leaves[index], proof, root)
    if proof.audit_path:
        position = data.draw(st.integers(0, len(proof.audit_path) - 1))
        path = list(proof.audit_path)
        path[position] = bytes([path[position][0] ^ 1]) + path[position][1:]
        assert not verify_inclusion(leaves[index], InclusionProof(index, len(leaves), tuple(path)), root)
        # A path shorter or longer than the tree's shape is refused too.
        assert not verify_inclusion(leaves[index], InclusionProof(index, len(leaves), proof.audit_path[:-1]), root)
    assert not verify_inclusion(leaves[index], InclusionProof(index, len(leaves), (*proof.audit_path, root)), root)
    assert not verify_inclusion(leaves[index], InclusionProof(len(leaves), len(leaves), proof.audit_path), root)


def test_proofs_round_trip_through_json_and_malformed_ones_are_refused():
    proof = inclusion_proof(CT_LEAVES, 5)
    assert InclusionProof.from_dict(proof.as_dict()) == proof
    for bad in (
        None,
        {"leaf_index": -1, "tree_size": 8, "audit_path": []},
        {"leaf_index": 0, "tree_size": "8", "audit_path": []},
        {"leaf_index": 0, "tree_size": 8, "audit_path": ["zz"]},
        {"leaf_index": 0, "tree_size": 8, "audit_path": "00"},
    ):
        with pytest.raises(ValueError, match="inclusion proof"):
            InclusionProof.from_dict(bad)
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(CT_LEAVES, 8)
