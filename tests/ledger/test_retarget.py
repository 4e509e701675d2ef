"""Difficulty retargeting: scaled by the last window's duration, clamped to 4x, bounded by the pow limit."""

import pytest

from apps.ledger.params import ChainParams
from apps.ledger.pow import bits_to_target, target_for_zero_bits, target_to_bits
from apps.ledger.retarget import block_bits, median_time_past, required_bits

PARAMS = ChainParams(pow_limit_bits=8, retarget_interval=10, target_spacing=2)
START = target_to_bits(target_for_zero_bits(16))


def window(spacing):
    return [1_000 + i * spacing for i in range(PARAMS.retarget_interval)]


def test_between_retarget_heights_the_requirement_is_unchanged():
    assert required_bits(height=15, parent_required_bits=START, recent_times=window(0), params=PARAMS) == START


def test_on_schedule_the_target_stays():
    assert required_bits(height=20, parent_required_bits=START, recent_times=window(2), params=PARAMS) == START


@pytest.mark.parametrize("spacing, factor", [(1, 0.5), (4, 2), (3, 1.5)])
def test_the_target_scales_with_the_window_duration(spacing, factor):
    bits = required_bits(height=20, parent_required_bits=START, recent_times=window(spacing), params=PARAMS)
    assert bits_to_target(bits) == int(bits_to_target(START) * factor)


@pytest.mark.parametrize("spacing, factor", [(0, 1 / 4), (100, 4)])
def test_the_adjustment_is_clamped_to_four_times_either_way(spacing, factor):
    bits = required_bits(height=20, parent_required_bits=START, recent_times=window(spacing), params=PARAMS)
    assert bits_to_target(bits) == int(bits_to_target(START) * factor)


def test_the_target_never_gets_easier_than_the_pow_limit():
    near_limit = target_to_bits(target_for_zero_bits(9))
    bits = required_bits(height=20, parent_required_bits=near_limit, recent_times=window(100), params=PARAMS)
    assert bits_to_target(bits) == PARAMS.pow_limit


def test_a_retarget_needs_the_whole_window():
    with pytest.raises(ValueError, match="last 10 block times"):
        required_bits(height=20, parent_required_bits=START, recent_times=window(2)[1:], params=PARAMS)


def test_a_block_carries_the_harder_of_the_chains_and_its_experiments_difficulty():
    easy = PARAMS.pow_limit_compact
    assert block_bits(required=easy, difficulty_bits=12) == target_to_bits(target_for_zero_bits(12))
    assert block_bits(required=START, difficulty_bits=12) == START
    assert block_bits(required=START, difficulty_bits=0) == START


def test_median_time_past_is_the_median_of_the_last_eleven():
    assert median_time_past([5, 1, 9, 3, 7], 11) == 5
    assert median_time_past(list(range(100)), 11) == 94
