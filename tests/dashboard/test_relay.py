"""The relay's poller and a subscription, without a websocket in between."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError

from apps.dashboard.protocol import Stream
from apps.dashboard.recent import RecentEvents
from apps.dashboard import relay as relay_module
from apps.dashboard.relay import Relay, Subscription
from apps.events.services import outbox_prune
from apps.events.services import event_emit, last_event_seq

pytestmark = pytest.mark.django_db(transaction=True)


async def emit(type, experiment_id=None, **payload):
    return (await sync_to_async(event_emit)(type=type, payload=payload, experiment_id=experiment_id)).seq


class Recorder:
    def __init__(self):
        self.messages = []

    async def send(self, text):
        self.messages.append(json.loads(text))


def follow(relay, stream=Stream()):
    recorder = Recorder()
    subscription = Subscription(relay=relay, stream=stream, send=recorder.send, build_snapshot=lambda: {"n": 1})
    return subscription, recorder


async def test_one_poll_feeds_every_subscription_from_memory():
    relay = Relay(poll_interval=60, capacity=100)
    relay.recent = RecentEvents(await sync_to_async(last_event_seq)(), relay.capacity)
    first, first_seen = follow(relay)
    second, second_seen = follow(relay, Stream(experiment_id=2))
    for subscription in (first, second):
        subscription.position = relay.recent.position
    seqs = [await emit("round", experiment_id=e, round=1) for e in (1, 2, 3)] + [await emit("chain_status")]
    assert await relay.read_new_events() == 4
    await first.catch_up()
    await second.catch_up()
    assert [m["seq"] for m in first_seen.messages] == seqs
    assert [m["seq"] for m in second_seen.messages] == [seqs[1], seqs[3]]
    assert first.position == second.position == seqs[-1]


async def test_events_pruned_before_the_poller_read_them_turn_into_a_snapshot():
    relay = Relay(poll_interval=60, capacity=100)
    relay.recent = RecentEvents(await sync_to_async(last_event_seq)(), relay.capacity)
    subscription, seen = follow(relay)
    subscription.position = relay.recent.position
    for nonces in range(5):
        await emit("mining_progress", nonces=nonces)
    await sync_to_async(outbox_prune)(keep_mining_progress=1)
    await relay.read_new_events()
    await subscription.catch_up()
    assert [m["type"] for m in seen.messages] == ["snapshot"]
    assert seen.messages[0]["seq"] == await sync_to_async(last_event_seq)()
    live = await emit("block", height=1)
    await relay.read_new_events()
    await subscription.catch_up()
    assert [m["seq"] for m in seen.messages[1:]] == [live]


async def test_the_poller_runs_only_while_somebody_follows():
    relay = Relay(poll_interval=0.02, capacity=100)
    subscription, seen = follow(relay)
    following = asyncio.create_task(subscription.run())

    async def messages(count):
        for _ in range(250):
            if len(seen.messages) >= count:
                return seen.messages
            await asyncio.sleep(0.02)
        raise AssertionError(f"got {seen.messages}")

    assert [m["type"] for m in await messages(1)] == ["snapshot"]
    seq = await emit("block", height=1)
    assert [(m["type"], m["seq"]) for m in await messages(2)][1:] == [("block", seq)]
    assert relay.subscription_count == 1 and relay.recent is not None
    following.cancel()
    with pytest.raises(asyncio.CancelledError):
        await following
    assert relay.subscription_count == 0 and relay.recent is None


async def test_a_poller_whose_first_read_fails_retries_and_still_wakes_its_subscriptions(monkeypatch):
    # The database goes away between a websocket's snapshot and the poller's first read (a restart, a failover).
    reads = []

    def unavailable_once():
        reads.append(1)
        if len(reads) == 1:
            raise OperationalError("the database system is shutting down")
        return last_event_seq()

    monkeypatch.setattr(relay_module, "last_event_seq", unavailable_once)
    relay = Relay(poll_interval=0.02, capacity=100)
    subscription, seen = follow(relay)
    following = asyncio.create_task(subscription.run())
    try:
        for _ in range(250):
            if seen.messages and len(reads) >= 2:
                break
            await asyncio.sleep(0.02)
        assert [m["type"] for m in seen.messages] == ["snapshot"] and len(reads) >= 2, (seen.messages, reads)
        seq = await emit("block", height=1)
        for _ in range(250):
            if len(seen.messages) >= 2:
                break
            await asyncio.sleep(0.02)
        assert [(m["type"], m["seq"]) for m in seen.messages[1:]] == [("block", seq)]
    finally:
        following.cancel()
        with pytest.raises(asyncio.CancelledError):
            await following


async def test_an_event_read_while_a_send_awaits_is_sent_next_not_skipped():
    relay = Relay(poll_interval=60, capacity=100)
    relay.recent = RecentEvents(await sync_to_async(last_event_seq)(), relay.capacity)
    sent, emitted = [], []

    async def slow_send(text):  # a server whose send yields to the loop, during which the poller reads more
        sent.append(json.loads(text)["seq"])
        if len(sent) == 1:
            emitted.append(await emit("block", height=2))
            await relay.read_new_events()

    subscription = Subscription(relay=relay, stream=Stream(), send=slow_send, build_snapshot=lambda: {"n": 1})
    subscription.position = relay.recent.position
    first = await emit("block", height=1)
    await relay.read_new_events()
    await subscription.catch_up()
    await subscription.catch_up()  # what the poller's wake-up does
    assert sent == [first, *emitted]
