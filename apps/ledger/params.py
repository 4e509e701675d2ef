"""Chain parameters: every node validating the same chain must use the same values."""

from dataclasses import asdict, dataclass

from .pow import target_for_zero_bits, target_to_bits


@dataclass(frozen=True)
class ChainParams:
    pow_limit_bits: int = 8  # the easiest target allowed, as leading zero bits: 2**(256 - pow_limit_bits)
    retarget_interval: int = 20  # blocks between difficulty adjustments
    target_spacing: int = 1  # seconds the chain aims for between blocks
    max_future_seconds: int = 2 * 60 * 60
    median_time_span: int = 11
    max_block_records: int = 10_000
    max_record_bytes: int = 64 * 1024

    def __post_init__(self):
        checks = {
            "pow_limit_bits": 1 <= self.pow_limit_bits <= 64,
            "retarget_interval": self.retarget_interval >= 2,
            "target_spacing": self.target_spacing >= 1,
            "max_future_seconds": self.max_future_seconds >= 0,
            "median_time_span": self.median_time_span >= 1,
            "max_block_records": self.max_block_records >= 2,
            "max_record_bytes": self.max_record_bytes >= 256,
        }
        for name, ok in checks.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not ok:
                raise ValueError(f"chain parameter {name}={value!r} is out of range")

    @property
    def pow_limit(self) -> int:
        return target_for_zero_bits(self.pow_limit_bits)

    @property
    def pow_limit_compact(self) -> int:
        return target_to_bits(self.pow_limit)

    @property
    def time_window(self) -> int:
        """How many recent block times a block's checks need: the median span and one retarget window."""
        return max(self.median_time_span, self.retarget_interval)

    def as_dict(self) -> dict:
        return asdict(self)
