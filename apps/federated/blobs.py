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
import zipfile

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


# The longest header a blob may have: what to read of a stored blob to learn its layout.
MAX_HEADER_BYTES = 8 + MAX_ARRAYS * (1 + 4 * MAX_DIMS)


def params_layout(head, size):
    """(shapes, payload offset) of a blob of `size` bytes whose first bytes are `head` (at least the first
    MAX_HEADER_BYTES, or all of a shorter blob), or BlobFormatError saying what is wrong."""
    view = memoryview(head)
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
    if size - offset != elements * _FLOAT.itemsize:
        raise BlobFormatError(f"payload is {size - offset} bytes, the header announces {elements * _FLOAT.itemsize}")
    return shapes, offset


def params_parse(data):
    """(shapes, flat float64 vector) from blob bytes, or BlobFormatError saying what is wrong."""
    view = memoryview(data)
    shapes, offset = params_layout(view, len(view))
    flat = np.frombuffer(view[offset:], dtype=_FLOAT).astype(np.float64)
    return shapes, flat


class _Sink:
    """Where the zip writer writes: collects what it wrote until taken. It has no tell(), so zipfile writes as
    to a pipe (sizes and CRC after each member's data) and never seeks back."""

    def __init__(self):
        self._parts = []

    def write(self, data):
        self._parts.append(bytes(data))
        return len(data)

    def flush(self):
        pass

    def take(self):
        parts, self._parts = self._parts, []
        return b"".join(parts)


def _exact_runs(chunks):
    """A function giving the next n bytes of the byte strings `chunks` yields, as memoryviews of them."""
    chunks = iter(chunks)
    rest = memoryview(b"")

    def take(n):
        nonlocal rest
        while n > 0:
            if not rest:
                rest = memoryview(next(chunks, b""))
                if not rest:
                    raise BlobFormatError("the blob ended before its payload did")
            part, rest = rest[:n], rest[n:]
            n -= len(part)
            yield part

    return take


def params_npz_chunks(shapes, offset, chunks):
    """The blob's arrays as a NumPy .npz file (arr_0, arr_1, ... in the blob's order, float64, uncompressed),
    written as the blob's bytes come in: `chunks` yields the blob (whose layout params_layout gave: its `shapes`,
    the payload from `offset`) in slices of any size, and the .npz comes out a slice at a time, so neither is
    ever whole in memory. The same blob gives the same .npz bytes. Its bytes are not what the chain commits to:
    the blob's are."""
    take = _exact_runs(chunks)
    for _ in take(offset):
        pass  # the blob's header, already parsed
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for index, shape in enumerate(shapes):
            header = _npy_header(shape)
            size = math.prod(shape) * _FLOAT.itemsize
            member = zipfile.ZipInfo(_npz_member(index), date_time=(1980, 1, 1, 0, 0, 0))
            member.file_size = len(header) + size
            with archive.open(member, "w") as entry:
                entry.write(header)
                for part in take(size):
                    entry.write(part)
                    yield sink.take()
    yield sink.take()  # the central directory


def params_npz_size(shapes):
    """The length of what params_npz_chunks writes for these shapes, known before writing it (a Content-Length):
    per array a local header (30 bytes and the name), its .npy header and data, a data descriptor (16) and a
    central directory entry (46 and the name); then the end record (22). A blob's at most 400 MB never needs
    ZIP64's larger records."""
    members = (
        30 + 2 * len(_npz_member(index)) + 16 + 46 + len(_npy_header(shape)) + math.prod(shape) * _FLOAT.itemsize
        for index, shape in enumerate(shapes)
    )
    return sum(members) + 22


def _npz_member(index):
    return f"arr_{index}.npy"


def _npy_header(shape):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": _FLOAT.str, "fortran_order": False, "shape": tuple(shape)})
    return header.getvalue()


def content_address(data):
    """Hex SHA-256 of the bytes: a blob's name in storage and on the chain."""
    return hashlib.sha256(data).hexdigest()
