"""Deterministic serialization of model parameters, addressed by the SHA-256 of their bytes.

Layout (all integers little-endian):
    magic   4 bytes  b"FCMP"
    version u16      1
    count   u16      number of arrays
    per array: ndim u8, then ndim dimensions as u32
    payload  every array's elements in order, row-major, as little-endian IEEE 754 float64

Equal parameters give equal bytes and so equal hashes. Parsing checks every length: nothing is executed or
trusted from the input (never pickle).
"""

import hashlib
import io
import math
import struct

import numpy as np

MAGIC = b"FCMP"
VERSION = 1
MAX_ARRAYS = 64
MAX_DIMS = 4
MAX_ELEMENTS = 50_000_000
_FLOAT = np.dtype("<f8")


class BlobFormatError(ValueError):
    """The bytes are not a parameter blob of this format."""


def params_serialize(shapes, flat):
    """Bytes of the flat parameter vector laid out as arrays of the given shapes."""
    shapes = [tuple(int(d) for d in shape) for shape in shapes]
    if len(shapes) > MAX_ARRAYS:
        raise ValueError(f"at most {MAX_ARRAYS} arrays")
    flat = np.asarray(flat)
    if flat.ndim != 1 or flat.size != sum(math.prod(shape) for shape in shapes):
        raise ValueError("the parameter vector does not match the shapes")
    header = [MAGIC, struct.pack("<HH", VERSION, len(shapes))]
    for shape in shapes:
        if len(shape) > MAX_DIMS:
            raise ValueError(f"arrays have at most {MAX_DIMS} dimensions")
        header.append(struct.pack(f"<B{len(shape)}I", len(shape), *shape))
    return b"".join(header) + flat.astype(_FLOAT, copy=False).tobytes()


def params_parse(data):
    """(shapes, flat float64 vector) from blob bytes, or BlobFormatError saying what is wrong."""
    view = memoryview(data)
    if len(view) < 8 or bytes(view[:4]) != MAGIC:
        raise BlobFormatError("not a FedChain parameter blob (bad magic)")
    version, count = struct.unpack_from("<HH", view, 4)
    if version != VERSION:
        raise BlobFormatError(f"unsupported blob version {version}")
    if count > MAX_ARRAYS:
        raise BlobFormatError(f"too many arrays ({count})")
    offset = 8
    shapes = []
    for _ in range(count):
        if offset >= len(view):
            raise BlobFormatError("truncated header")
        ndim = view[offset]
        if ndim > MAX_DIMS or offset + 1 + 4 * ndim > len(view):
            raise BlobFormatError("truncated or malformed array header")
        shapes.append(struct.unpack_from(f"<{ndim}I", view, offset + 1))
        offset += 1 + 4 * ndim
    elements = sum(math.prod(shape) for shape in shapes)
    if elements > MAX_ELEMENTS:
        raise BlobFormatError("too many parameters")
    if len(view) - offset != elements * _FLOAT.itemsize:
        raise BlobFormatError(
            f"payload is {len(view) - offset} bytes, the header announces {elements * _FLOAT.itemsize}"
        )
    flat = np.frombuffer(view[offset:], dtype=_FLOAT).astype(np.float64)
    return shapes, flat


def params_npz(data):
    """The blob's arrays as a NumPy .npz file (arr_0, arr_1, ... in the blob's order, float64): the same numbers
    for tools that read NumPy's format. Its bytes are not what the chain commits to: the blob's are."""
    shapes, flat = params_parse(data)
    arrays, offset = [], 0
    for shape in shapes:
        size = math.prod(shape)
        arrays.append(flat[offset : offset + size].reshape(shape))
        offset += size
    buffer = io.BytesIO()
    np.savez(buffer, *arrays)
    return buffer.getvalue()


def content_address(data):
    """Hex SHA-256 of the bytes: a blob's name in storage and on the chain."""
    return hashlib.sha256(data).hexdigest()
