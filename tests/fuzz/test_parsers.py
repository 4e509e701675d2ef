"""Property tests of the pure parsers: whatever bytes or JSON arrive (from a peer, a file, a request), each
parser gives back either what re-encodes to exactly those bytes or a ValueError with a message; never another
exception, never an allocation the input's length does not justify."""

import json
import math
import struct

import numpy as np

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from apps.federated.blobs import MAGIC, MAX_ELEMENTS, BlobFormatError, params_parse, params_serialize
from apps.ledger.header import HEADER_SIZE, BlockHeader, display_hex, parse_display_hex
from apps.ledger.merkle import InclusionProof, inclusion_proof, merkle_root, verify_inclusion
from apps.ledger.records import canonical_bytes, parse_canonical

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@FAST
@given(st.binary(max_size=200))
@example(b"\x00" * HEADER_SIZE)
def test_a_header_parses_from_exactly_its_bytes_or_not_at_all(raw):
    try:
        header = BlockHeader.parse(raw)
    except ValueError as error:
        assert str(error)
        assert len(raw) != HEADER_SIZE
        return
    assert header.serialize() == raw


@FAST
@given(st.text(max_size=200) | st.binary(min_size=HEADER_SIZE, max_size=HEADER_SIZE).map(bytes.hex))
def test_a_header_from_hex_round_trips_or_is_refused(text):
    try:
        header = BlockHeader.from_hex(text)
    except ValueError as error:
        assert str(error)
        return
    assert header.serialize() == bytes.fromhex(text)


@FAST
@given(st.text(max_size=100) | st.binary(min_size=32, max_size=32).map(display_hex) | st.integers() | st.none())
def test_a_displayed_hash_round_trips_or_is_refused(text):
    try:
        digest = parse_display_hex(text)
    except ValueError as error:
        assert str(error)
        return
    assert display_hex(digest) == text.lower()


@FAST
@given(st.binary(max_size=300) | json_values.map(lambda value: json.dumps(value).encode()))
@example(b"[" * 100_000)
@example(b'{"type":"x","n":1e999}')
@example(b'{"type":"x","n":' + b"9" * 5000 + b"}")
def test_stored_record_bytes_are_their_canonical_form_or_refused(data):
    try:
        record = parse_canonical(data)
    except ValueError as error:
        assert str(error)
        return
    assert canonical_bytes(record) == data


@FAST
@given(json_values)
def test_any_json_value_encodes_canonically_and_reads_back_or_is_refused(value):
    record = {"type": "fuzz", "value": value}
    try:
        data = canonical_bytes(record)
    except ValueError as error:
        assert str(error)
        return
    assert parse_canonical(data) == json.loads(data)


def test_deeply_nested_records_are_refused_with_a_message():
    deep = b'{"type":"x","v":' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    try:
        parse_canonical(deep)
    except ValueError as error:
        assert str(error)
    nested = []
    for _ in range(100_000):
        nested = [nested]
    try:
        canonical_bytes({"type": "x", "v": nested})
    except ValueError as error:
        assert str(error)


proof_dicts = st.fixed_dictionaries(
    {
        "leaf_index": st.integers(-2, 2**70) | st.booleans() | st.text(max_size=3) | st.none(),
        "tree_size": st.integers(-2, 2**70) | st.floats() | st.none(),
        "audit_path": st.lists(st.binary(min_size=32, max_size=32).map(bytes.hex) | st.text(max_size=70)
                               | st.integers(), max_size=80)
        | st.text(max_size=5),
    }
) | json_values


@FAST
@given(proof_dicts, st.binary(max_size=40), st.binary(min_size=32, max_size=32))
def test_any_proof_object_is_parsed_or_refused_and_verifying_it_only_says_yes_or_no(data, leaf, root):
    try:
        proof = InclusionProof.from_dict(data)
    except ValueError as error:
        assert str(error)
        return
    assert proof.as_dict()["audit_path"] == [node.lower() for node in data["audit_path"]]
    assert verify_inclusion(leaf, proof, root) in (True, False)


@FAST
@given(st.lists(st.binary(max_size=20), min_size=1, max_size=40), st.data())
def test_a_true_proof_verifies_and_any_change_to_it_does_not(leaves, data):
    index = data.draw(st.integers(0, len(leaves) - 1))
    root = merkle_root(leaves)
    proof = inclusion_proof(leaves, index)
    assert verify_inclusion(leaves[index], InclusionProof.from_dict(proof.as_dict()), root)
    other_index = data.draw(st.integers(0, 2 * len(leaves)))
    other_size = data.draw(st.integers(0, 2 * len(leaves)))
    assume((other_index, other_size) != (index, len(leaves)))
    moved = InclusionProof(other_index, other_size, proof.audit_path)
    if leaves.count(leaves[index]) == 1 and other_size == len(leaves):
        assert not verify_inclusion(leaves[index], moved, root)
    if proof.audit_path:
        position = data.draw(st.integers(0, len(proof.audit_path) - 1))
        path = list(proof.audit_path)
        path[position] = bytes([path[position][0] ^ 1]) + path[position][1:]
        assert not verify_inclusion(leaves[index], InclusionProof(index, len(leaves), tuple(path)), root)
    assert not verify_inclusion(leaves[index] + b"!", proof, root)


blob_headers = st.builds(
    lambda count, dims, tail: MAGIC + struct.pack("<HH", 1, count) + b"".join(
        struct.pack(f"<B{len(d)}I", len(d), *d) for d in dims) + tail,
    st.integers(0, 70),
    st.lists(st.lists(st.integers(0, 2**32 - 1), max_size=5), max_size=6),
    st.binary(max_size=64),
)


@FAST
@given(st.binary(max_size=200) | blob_headers)
@example(MAGIC + struct.pack("<HHB2I", 1, 1, 2, 2**32 - 1, 2**32 - 1))
@example(MAGIC + struct.pack("<HH", 1, 2**16 - 1))
def test_blob_bytes_parse_to_parameters_that_serialize_back_or_are_refused(data):
    try:
        shapes, flat = params_parse(data)
    except BlobFormatError as error:
        assert str(error)
        return
    assert flat.size <= MAX_ELEMENTS
    assert params_serialize(shapes, flat) == data


@FAST
@given(st.lists(st.lists(st.integers(1, 6), min_size=1, max_size=3), min_size=1, max_size=4), st.data())
def test_serialized_parameters_parse_back_bit_for_bit(shapes, data):
    size = sum(math.prod(shape) for shape in shapes)
    values = data.draw(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=size, max_size=size))
    flat = np.array(values, dtype=np.float64)
    blob = params_serialize(shapes, flat)
    parsed_shapes, parsed = params_parse(blob)
    assert [list(s) for s in parsed_shapes] == shapes
    assert parsed.tobytes() == flat.tobytes()
