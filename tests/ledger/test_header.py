"""The 80-byte header against real Bitcoin headers, and its round trips."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.ledger.header import BlockHeader, display_hex, parse_display_hex, sha256d
from apps.ledger.pow import bits_to_target, meets_target

# (hash, version, previous hash, Merkle root, time, bits, nonce) as block explorers display them.
BITCOIN_HEADERS = [
    (  # the genesis block
        "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
        1,
        "0000000000000000000000000000000000000000000000000000000000000000",
        "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b",
        1231006505,
        0x1D00FFFF,
        2083236893,
    ),
    (  # block 1
        "00000000839a8e6886ab5951d76f411475428afc90947ee320161bbf18eb6048",
        1,
        "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
        "0e3e2357e806b6cdb1f70b54c3a3a17b6714ee1f0e68bebb44a74b1efd512098",
        1231469665,
        0x1D00FFFF,
        2573394689,
    ),
    (  # block 100000: a retargeted difficulty
        "000000000003ba27aa200b1cecaad478d2b00432346c3f1f3986da1afd33e506",
        1,
        "000000000002d01c1fccc21636b607dfd930d31d01c3a62104612a1719011250",
        "f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766",
        1293623863,
        0x1B04864C,
        274148111,
    ),
]

GENESIS_RAW = bytes.fromhex(
    "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f61"
    "7fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c"
)


@pytest.mark.parametrize("expected, version, prev, root, time, bits, nonce", BITCOIN_HEADERS)
def test_real_bitcoin_headers_hash_and_meet_their_target(expected, version, prev, root, time, bits, nonce):
    header = BlockHeader(version, parse_display_hex(prev), parse_display_hex(root), time, bits, nonce)
    assert header.hash_hex() == expected
    assert meets_target(header.hash(), bits_to_target(bits))
    assert BlockHeader.parse(header.serialize()) == header


def test_genesis_serializes_to_bitcoins_exact_bytes():
    header = BlockHeader.parse(GENESIS_RAW)
    assert header.serialize() == GENESIS_RAW
    assert header.nonce == 2083236893 and header.time == 1231006505
    assert display_hex(sha256d(GENESIS_RAW)) == BITCOIN_HEADERS[0][0]


def test_a_changed_nonce_no_longer_meets_the_target():
    expected, version, prev, root, time, bits, nonce = BITCOIN_HEADERS[0]
    header = BlockHeader(version, parse_display_hex(prev), parse_display_hex(root), time, bits, nonce + 1)
    assert header.hash_hex() != expected
    assert not meets_target(header.hash(), bits_to_target(bits))


headers = st.builds(
    BlockHeader,
    version=st.integers(0, 2**32 - 1),
    prev_hash=st.binary(min_size=32, max_size=32),
    merkle_root=st.binary(min_size=32, max_size=32),
    time=st.integers(0, 2**32 - 1),
    bits=st.integers(0, 2**32 - 1),
    nonce=st.integers(0, 2**32 - 1),
)


@given(headers)
def test_header_round_trips_through_its_80_bytes_and_hex(header):
    raw = header.serialize()
    assert len(raw) == 80
    assert BlockHeader.parse(raw) == header
    assert BlockHeader.from_hex(raw.hex()) == header
    assert raw[76:80] == header.nonce.to_bytes(4, "little")  # little-endian, as Bitcoin


@given(st.binary(min_size=32, max_size=32))
def test_display_hex_round_trips_and_is_byte_reversed(digest):
    text = display_hex(digest)
    assert text == digest[::-1].hex()
    assert parse_display_hex(text) == digest
    assert parse_display_hex(text.upper()) == digest


@pytest.mark.parametrize("raw", [b"", b"\x00" * 79, b"\x00" * 81, "not bytes"])
def test_a_header_that_is_not_80_bytes_is_refused_clearly(raw):
    with pytest.raises(ValueError, match="80 bytes"):
        BlockHeader.parse(raw)


@pytest.mark.parametrize("text", ["00" * 79, "zz" * 80, "0" * 159])
def test_a_header_hex_that_is_short_or_not_hex_is_refused_clearly(text):
    with pytest.raises(ValueError, match="80 bytes|hex"):
        BlockHeader.from_hex(text)


@pytest.mark.parametrize("text", ["xyz", "g" * 64, "0" * 63, "0" * 65, "", None])
def test_a_non_hex_hash_is_refused_clearly(text):
    with pytest.raises(ValueError, match="64 hex characters"):
        parse_display_hex(text)


@pytest.mark.parametrize(
    "field, value", [("nonce", 2**32), ("time", -1), ("bits", "1"), ("prev_hash", b"\x00" * 31), ("merkle_root", "00" * 32)]
)
def test_header_fields_out_of_range_are_refused(field, value):
    fields = {"version": 1, "prev_hash": bytes(32), "merkle_root": bytes(32), "time": 0, "bits": 0, "nonce": 0}
    fields[field] = value
    with pytest.raises(ValueError, match=field):
        BlockHeader(**fields)
