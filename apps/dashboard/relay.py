"""Relays the event outbox to the websockets of this web process.

The database outbox is the truth; nothing here can lose an event. One poller per process (per event
loop) reads events newer than the last one it read — an indexed `id > last` query, usually empty —
keeps the newest of them encoded in memory and wakes every subscription. Each subscription sends
from its own position: from memory when the window covers it, otherwise from the database. A missed
wake-up costs at most one poll interval, never an event. Workers and other web processes write the
outbox, so there is nothing to push to us: polling a primary-key index is the cheap, reliable way to
learn of their commits on every database the project runs on.
"""

import asyncio
import logging
import weakref

from asgiref.sync import sync_to_async
from channels.db import aclose_old_connections
from django.conf import settings
from django.db import reset_queries

from apps.events.services import events_after, last_event_seq, outbox_pruned_through

from .protocol import encode, snapshot_message
from .recent import RecentEvent, RecentEvents
from .selectors import snapshot

logger = logging.getLogger(__name__)

READ_BATCH = 500


def _recent(event):
    return RecentEvent(event.seq, event.type, event.experiment_id, encode(event.as_message()))


def read_outbox(after, limit=READ_BATCH):
    """Events after a seq, ready to send, and how far the outbox has been pruned (read after them)."""
    events = [_recent(event) for event in events_after(after, limit=limit)]
    return events, outbox_pruned_through()


async def run_query(function, *args):
    """Runs a synchronous database read from the event loop.

    Stale connections are closed first (these loops live far longer than a request). With DEBUG on,
    Django logs every query of a connection until a request starts; nothing here is a request, so
    the log is dropped after each read or it would grow with every poll.
    """
    await aclose_old_connections()
    return await sync_to_async(_query_unlogged)(function, *args)


def _query_unlogged(function, *args):
    try:
        return function(*args)
    finally:
        reset_queries()


class Relay:
    """The poller and the subscriptions it wakes, for one event loop."""

    def __init__(self, *, poll_interval, capacity):
        self.poll_interval = poll_interval
        self.capacity = capacity
        self.recent = None  # RecentEvents once the poller has read where the outbox stands
        self._subscriptions = set()
        self._poller = None

    def subscribe(self, subscription):
        self._subscriptions.add(subscription)
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll())

    def unsubscribe(self, subscription):
        self._subscriptions.discard(subscription)
        if not self._subscriptions and self._poller is not None:
            # Nobody is watching: stop reading the database until somebody is.
            self._poller.cancel()
            self._poller = None
            self.recent = None

    @property
    def subscription_count(self):
        return len(self._subscriptions)

    async def _poll(self):
        while True:
            try:
                # The opening read retries like every other: a poller that died here would stay registered
                # and never wake its subscriptions again.
                if self.recent is None:
                    self.recent = RecentEvents(await run_query(last_event_seq), self.capacity)
                    read = 0
                else:
                    read = await self.read_new_events()
            except Exception:
                logger.exception("reading the event outbox failed; retrying")
                await asyncio.sleep(max(self.poll_interval, 1.0))
                continue
            if read < READ_BATCH:
                await asyncio.sleep(self.poll_interval)

    async def read_new_events(self):
        """One poll: adds the outbox's new events to the window and wakes every subscription."""
        recent = self.recent
        events, pruned_through = await run_query(read_outbox, recent.position)
        lost_some = pruned_through > recent.position
        if lost_some:
            # Events we had not read yet were pruned: restart the window above them, so that
            # subscriptions behind it go to the database, see the pruning and start afresh.
            self.recent = RecentEvents(max(pruned_through, events[-1].seq if events else 0), self.capacity)
        elif events:
            recent.extend(events, events[-1].seq)
        if events or lost_some:
            for subscription in list(self._subscriptions):
                subscription.wake()
        return len(events)


_relays = weakref.WeakKeyDictionary()


def get_relay():
    """The relay of the running event loop (one per web process in production)."""
    loop = asyncio.get_running_loop()
    relay = _relays.get(loop)
    if relay is None:
        relay = Relay(poll_interval=settings.FEDCHAIN_LIVE_POLL_MS / 1000, capacity=settings.FEDCHAIN_LIVE_RECENT_EVENTS)
        _relays[loop] = relay
    return relay


class Subscription:
    """One websocket's place in the outbox: sends what its stream wants, in order, exactly once.

    send(text) sends one frame; build_snapshot() (synchronous, runs in a thread) returns the current
    state as a dict, and is called after the seq it is at least as new as has been read.
    """

    def __init__(self, *, relay, stream, send, build_snapshot):
        self.relay = relay
        self.stream = stream
        self.position = None
        self._send = send
        self._build_snapshot = build_snapshot
        self._woken = asyncio.Event()

    def wake(self):
        self._woken.set()

    async def run(self, after=None):
        """Starts from a snapshot (after=None) or right after a seq, then follows the outbox until cancelled."""
        last = None if after is None else await run_query(last_event_seq)
        if after is None or after > last or last - after > settings.FEDCHAIN_LIVE_MAX_REPLAY:
            # A seq from the future belongs to another database (a reset one), one from long ago would replay
            # much of the outbox: start afresh.
            await self.send_snapshot()
        else:
            self.position = after
        self.relay.subscribe(self)
        try:
            while True:
                self._woken.clear()
                await self.catch_up()
                await self._woken.wait()
        finally:
            self.relay.unsubscribe(self)

    async def send_snapshot(self):
        seq, text = await run_query(self._snapshot)
        await self._send(text)
        self.position = seq

    def _snapshot(self):
        seq, data = snapshot(self._build_snapshot)
        return seq, snapshot_message(seq, data)

    async def catch_up(self):
        while True:
            recent = self.relay.recent
            if recent is not None and recent.covers(self.position):
                # The window's end as of what is sent: events the poller adds while a send awaits are after it.
                events, through = recent.after(self.position), recent.position
                await self._send_events(events)
                self.position = max(self.position, through)
                return
            # Behind the in-memory window (resuming from long ago, or the poller is starting).
            events, pruned_through = await run_query(read_outbox, self.position)
            if pruned_through > self.position:
                await self.send_snapshot()
                continue
            await self._send_events(events)
            if len(events) < READ_BATCH:
                return

    async def _send_events(self, events):
        for event in events:
            if self.stream.wants(event.type, event.experiment_id):
                await self._send(event.text)
            self.position = event.seq
