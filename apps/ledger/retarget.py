"""Difficulty retargeting.

Every `retarget_interval` blocks the target the chain requires is scaled by how long the last window of blocks
took against how long it should have taken, by at most 4x either way, and never easier than the pow limit.
A block's own bits must be the harder of that required target and the one its experiment asked for, so the
chain's required difficulty follows block times only, never one experiment's choice.
"""

from collections.abc import Sequence

from .params import ChainParams
from .pow import bits_to_target, target_for_zero_bits, target_to_bits

MAX_ADJUSTMENT = 4


def required_bits(*, height: int, parent_required_bits: int, recent_times: Sequence[int], params: ChainParams) -> int:
    """The compact target the chain requires at `height`.

    recent_times are the times of the blocks before it, oldest first, ending with the parent's; at a retarget
    height they must include the whole window (heights height - interval .. height - 1).
    """
    interval = params.retarget_interval
    if height % interval:
        return parent_required_bits
    if len(recent_times) < interval:
        raise ValueError(f"retargeting at height {height} needs the last {interval} block times")
    window = recent_times[-interval:]
    # interval blocks span interval - 1 gaps: no off-by-one in the expected duration.
    expected = (interval - 1) * params.target_spacing
    actual = window[-1] - window[0]
    old = bits_to_target(parent_required_bits)
    new = old * actual // expected
    new = max(old // MAX_ADJUSTMENT, min(new, old * MAX_ADJUSTMENT))
    new = max(1, min(new, params.pow_limit))
    return target_to_bits(new)


def block_bits(*, required: int, difficulty_bits: int) -> int:
    """The bits a block must carry: the harder (smaller target) of the chain's and its experiment's."""
    asked = target_to_bits(target_for_zero_bits(difficulty_bits))
    return required if bits_to_target(required) <= bits_to_target(asked) else asked


def median_time_past(recent_times: Sequence[int], span: int) -> int:
    """Median of the last `span` block times: a new block must be later than this."""
    window = sorted(recent_times[-span:])
    return window[len(window) // 2]
