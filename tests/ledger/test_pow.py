"""Compact targets, work, and the nonce search."""

import threading
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.ledger.header import BlockHeader, sha256d
from apps.ledger.pow import (
    MAX_TARGET,
    bits_to_target,
    block_work,
    hash_value,
    meets_target,
    search,
    target_for_zero_bits,
    target_to_bits,
)


def test_known_compact_targets():
    assert bits_to_target(0x1D00FFFF) == 0xFFFF << 208  # Bitcoin's pow limit
    assert target_to_bits(0xFFFF << 208) == 0x1D00FFFF
    assert bits_to_target(0x1B04864C) == 0x04864C << 192
    assert bits_to_target(0x01003456) == 0x00
    assert bits_to_target(0x02008000) == 0x80
    assert bits_to_target(0x05009234) == 0x92340000
    assert target_to_bits(0x80) == 0x02008000  # the sign bit pushes the mantissa a byte up
    assert target_to_bits(0) == 0


@pytest.mark.parametrize("bits", [0x04923456, 0x01FEDCBA, 0xFF123456, 0x23000001, 0x22010000])
def test_negative_and_overflowing_compact_targets_are_refused(bits):
    with pytest.raises(ValueError, match="negative|above"):
        bits_to_target(bits)


@given(st.integers(1, MAX_TARGET))
def test_target_to_bits_keeps_the_three_most_significant_bytes(target):
    bits = target_to_bits(target)
    decoded = bits_to_target(bits)
    assert decoded <= target
    # At least the 16 most significant bits survive (23 unless the sign bit forces a byte shift).
    assert target - decoded < 1 << max(0, target.bit_length() - 16)
    assert target_to_bits(decoded) == bits  # the encoding is canonical


@given(st.integers(0, 2**32 - 1))
def test_every_valid_compact_value_decodes_and_reencodes_to_the_same_target(bits):
    try:
        target = bits_to_target(bits)
    except ValueError:
        return
    if target <= MAX_TARGET:
        assert bits_to_target(target_to_bits(target)) == target


@pytest.mark.parametrize("zero_bits", [1, 8, 12, 20, 32, 200])
def test_difficulty_bits_are_exact_powers_of_two_in_compact_form(zero_bits):
    target = target_for_zero_bits(zero_bits)
    assert target == 1 << (256 - zero_bits)
    assert bits_to_target(target_to_bits(target)) == target


def test_work_is_what_bitcoin_counts():
    assert block_work(0x1D00FFFF) == 0x100010001  # Bitcoin's per-block work at difficulty 1
    assert block_work(target_to_bits(target_for_zero_bits(12))) == 4095  # 2**256 / (2**244 + 1)


def template(bits=0x1F0FFFFF, time=1_700_000_000):  # 0x1f0fffff: about 12 zero bits
    return BlockHeader(1, bytes(range(32)), bytes(range(32, 64)), time, bits, 0)


def test_search_finds_the_first_nonce_that_meets_the_target():
    header = template()
    target = bits_to_target(header.bits)
    result = search(header)
    assert meets_target(result.header.hash(), target)
    assert result.nonces == result.header.nonce + 1
    assert all(not meets_target(replace(header, nonce=n).hash(), target) for n in range(result.header.nonce))
    assert hash_value(sha256d(result.header.serialize())) <= target  # integer comparison, not a hex prefix


def hashes(header, time):
    return [hash_value(replace(header, nonce=n, time=time).hash()) for n in range(16)]


def test_search_bumps_the_time_when_the_nonce_range_is_exhausted():
    # A template and target that none of nonces 0..15 meets at its time, but one of them meets a second later.
    header = next(
        template(time=t) for t in range(1_700_000_000, 1_700_000_100) if min(hashes(template(), t)) > min(hashes(template(), t + 1))
    )
    hashes_later = hashes(header, header.time + 1)
    target = min(hashes_later)
    result = search(header, target=target, nonce_stop=16)
    assert result.header.time == header.time + 1
    assert result.header.nonce == hashes_later.index(target)
    assert result.nonces == 16 + result.header.nonce + 1


def test_search_stops_when_asked_and_reports_progress():
    stop = threading.Event()
    reports = []

    def on_progress(report):
        reports.append(report)
        if len(reports) == 2:
            stop.set()

    result = search(template(), target=0, should_stop=stop.is_set, on_progress=on_progress, progress_seconds=0.02)
    assert result.header is None
    assert len(reports) == 2
    assert 0 < reports[0]["nonces"] < reports[1]["nonces"] <= result.nonces
    assert reports[1]["hash_rate"] > 10_000
    assert reports[1]["expected"] == 2.0**256
    assert result.hash_rate > 10_000
