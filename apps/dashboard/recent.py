"""The newest outbox events a web process has read, kept in memory so that many websockets can be fed
from one database read.

The window is complete: it holds every outbox event with floor < seq <= position. A reader whose own
position is at or above the floor can be served from memory alone; one below it must read the database.
"""

from bisect import bisect_right
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RecentEvent:
    seq: int
    type: str
    experiment_id: int | None
    text: str  # the encoded message, built once for every websocket


class RecentEvents:
    def __init__(self, position, capacity):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.floor = position
        self.position = position
        self.capacity = capacity
        self._events = []
        self._seqs = []

    def covers(self, position):
        return position >= self.floor

    def extend(self, events, position):
        """Adds the events read after self.position, up to the new position, oldest first."""
        if position < self.position:
            raise ValueError("the position only moves forward")
        last = self.position
        for event in events:
            if not last < event.seq <= position:
                raise ValueError(f"event {event.seq} is out of order for window ({self.position}, {position}]")
            last = event.seq
        self._events.extend(events)
        self._seqs.extend(event.seq for event in events)
        self.position = position
        excess = len(self._events) - self.capacity
        if excess > 0:
            self.floor = self._seqs[excess - 1]
            del self._events[:excess], self._seqs[:excess]

    def after(self, position):
        """The events after position (which this window must cover), oldest first."""
        if not self.covers(position):
            raise ValueError(f"position {position} is below this window's floor {self.floor}")
        return self._events[bisect_right(self._seqs, position) :]

    def __len__(self):
        return len(self._events)
