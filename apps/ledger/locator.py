"""Block locators, as Bitcoin's: the heights whose hashes tell a peer where our main chain is.

The ten newest heights one by one, then steps that double, always ending with the genesis block, so a locator
has about 10 + log2(height) entries and a peer finds the last block we share within a factor of two of the fork.
"""


def locator_heights(tip_height: int) -> list[int]:
    if not isinstance(tip_height, int) or tip_height < 0:
        raise ValueError(f"a tip height is an integer >= 0, got {tip_height!r}")
    heights = []
    height, step = tip_height, 1
    while height > 0:
        heights.append(height)
        if len(heights) >= 10:
            step *= 2
        height -= step
    heights.append(0)
    return heights
