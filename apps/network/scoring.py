"""Peer misbehaviour scores and backoff, as plain arithmetic (no Django).

A peer earns points for what it does wrong, by how sure we are that it is wrong on purpose: an invalid block
or header proves it (it cannot happen by accident between honest nodes of the same chain parameters), a
malformed or oversized message nearly so, a flood of requests is rude. At BAN_POINTS it is banned (refused and
not contacted) for BAN_SECONDS; points decay by half every DECAY_SECONDS so an old slip is forgotten. A peer
that does not answer is not misbehaving: it is retried after a backoff that doubles up to MAX_BACKOFF_SECONDS.
"""

INVALID_BLOCK = 100
INVALID_HEADER = 100
WRONG_CHAIN = 100  # other genesis or chain parameters: never useful to us
MALFORMED = 20
OVERSIZED = 50
FLOOD = 5
BAN_POINTS = 100
BAN_SECONDS = 600
DECAY_SECONDS = 3600
MAX_BACKOFF_SECONDS = 60

OFFENCES = {
    "invalid-block": INVALID_BLOCK,
    "invalid-header": INVALID_HEADER,
    "wrong-chain": WRONG_CHAIN,
    "malformed": MALFORMED,
    "oversized": OVERSIZED,
    "flood": FLOOD,
}


def decayed(points: float, seconds_since: float) -> float:
    if seconds_since <= 0:
        return points
    return points * 0.5 ** (seconds_since / DECAY_SECONDS)


def penalise(points: float, seconds_since_last: float, offence: str) -> tuple[float, bool]:
    """(new points, whether the peer is now banned) after `offence`."""
    if offence not in OFFENCES:
        raise ValueError(f"unknown offence {offence!r}; known: {', '.join(OFFENCES)}")
    new = decayed(points, seconds_since_last) + OFFENCES[offence]
    return new, new >= BAN_POINTS


def backoff_seconds(failures: int) -> float:
    """How long to wait before trying a peer that failed `failures` times in a row (0: no wait)."""
    if failures <= 0:
        return 0.0
    return float(min(MAX_BACKOFF_SECONDS, 2 ** (failures - 1)))


class TokenBucket:
    """Requests a peer may make: `rate` per second on average, bursts up to `burst`."""

    def __init__(self, rate: float, burst: float, now: float):
        self.rate, self.burst = rate, burst
        self.tokens, self.updated = burst, now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False
