import hashlib
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.federated.blobs import BlobFormatError, content_address, params_parse, params_serialize


def test_known_layout():
    data = params_serialize([(2, 1), (1,)], np.array([1.0, -2.0, 0.5]))
    assert data == (
        b"FCMP" + struct.pack("<HH", 1, 2) + bytes([2]) + struct.pack("<II", 2, 1) + bytes([1]) + struct.pack("<I", 1)
        + struct.pack("<3d", 1.0, -2.0, 0.5)
    )
    assert content_address(data) == hashlib.sha256(data).hexdigest()


@given(
    shapes=st.lists(st.lists(st.integers(0, 5), min_size=0, max_size=3).map(tuple), min_size=0, max_size=6),
    seed=st.integers(0, 1000),
)
def test_round_trip_is_exact_and_deterministic(shapes, seed):
    size = sum(int(np.prod(shape)) for shape in shapes)
    flat = np.random.default_rng(seed).normal(size=size) * 1e3
    if size:
        flat[0] = np.nan if seed % 3 == 0 else flat[0]  # non-finite values survive: the aggregator judges them
    data = params_serialize(shapes, flat)
    assert data == params_serialize(shapes, flat.copy())
    parsed_shapes, parsed = params_parse(data)
    assert [tuple(s) for s in parsed_shapes] == shapes
    assert parsed.tobytes() == flat.tobytes()


def test_big_endian_or_float32_input_gives_the_same_bytes():
    flat = np.array([1.5, -3.25, 1e-300])
    reference = params_serialize([(3,)], flat)
    assert params_serialize([(3,)], flat.astype(">f8")) == reference
    assert params_serialize([(2,)], np.array([1.5, -3.25], dtype=np.float32)) == params_serialize(
        [(2,)], np.array([1.5, -3.25])
    )


GOOD = params_serialize([(2, 2), (2,)], np.arange(6.0))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "bad magic"),
        (b"PK\x03\x04" + GOOD[4:], "bad magic"),
        (GOOD[:4] + struct.pack("<HH", 2, 2) + GOOD[8:], "unsupported blob version 2"),
        (GOOD[:9], "truncated"),
        (GOOD[:-1], "payload is 47 bytes, the header announces 48"),
        (GOOD + b"\0", "payload is 49 bytes"),
        (b"FCMP" + struct.pack("<HH", 1, 1) + bytes([9]), "malformed"),
        (b"FCMP" + struct.pack("<HH", 1, 1) + bytes([2]) + struct.pack("<II", 2**31, 2**31), "too many parameters"),
        # A product beyond 64 bits must not wrap around into a small count.
        (b"FCMP" + struct.pack("<HH", 1, 2) + (bytes([4]) + struct.pack("<4I", *[2**32 - 1] * 4)) * 2, "too many parameters"),
        (b"FCMP" + struct.pack("<HH", 1, 1000), "too many arrays"),
    ],
)
def test_malformed_blobs_are_refused_with_a_reason(data, message):
    with pytest.raises(BlobFormatError, match=message):
        params_parse(data)


def test_mismatched_vector_is_refused():
    with pytest.raises(ValueError, match="does not match"):
        params_serialize([(2, 2)], np.zeros(5))


@given(
    shapes=st.lists(st.lists(st.integers(0, 12), min_size=0, max_size=4).map(tuple), min_size=0, max_size=12),
    slice_size=st.integers(1, 3000),
)
@settings(deadline=None, max_examples=50)
def test_the_npz_written_slice_by_slice_is_numpys_arrays_of_the_announced_length(shapes, slice_size):
    import io

    from apps.federated.blobs import params_layout, params_npz_chunks, params_npz_size

    size = sum(int(np.prod(shape)) for shape in shapes)
    flat = np.random.default_rng(size).normal(size=size)
    data = params_serialize(shapes, flat)
    layout, offset = params_layout(data[:2000], len(data))
    slices = [data[start : start + slice_size] for start in range(0, len(data), slice_size)]
    written = b"".join(params_npz_chunks(layout, offset, slices))
    assert len(written) == params_npz_size(layout)
    assert written == b"".join(params_npz_chunks(layout, offset, [data]))  # the same bytes however it is read
    arrays = np.load(io.BytesIO(written))
    assert [arrays[f"arr_{i}"].shape for i in range(len(shapes))] == shapes
    assert np.concatenate([arrays[f"arr_{i}"].ravel() for i in range(len(shapes))] + [np.empty(0)]).tobytes() == flat.tobytes()
