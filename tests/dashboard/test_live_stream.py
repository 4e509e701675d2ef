"""The websocket protocol end to end through the ASGI application: snapshot, order, resume, refusal."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from apps.dashboard import consumers, protocol, selectors
from apps.events.services import outbox_prune
from apps.events.services import event_emit, last_event_seq
from apps.federated.services import experiment_create
from fedchain_site.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1")


async def emit(type="round", experiment_id=None, **payload):
    event = await sync_to_async(event_emit)(type=type, payload=payload, experiment_id=experiment_id)
    return event.seq


async def connect(path="/ws/dashboard/", hello=None, origin=ORIGIN):
    communicator = WebsocketCommunicator(application, path, headers=[origin, (b"host", b"127.0.0.1")])
    connected, _ = await communicator.connect()
    assert connected
    if hello is not None:
        await communicator.send_to(text_data=json.dumps(hello))
    return communicator


async def receive(communicator, count, timeout=3):
    return [await communicator.receive_json_from(timeout=timeout) for _ in range(count)]


async def test_a_fresh_client_gets_a_snapshot_then_every_new_event_in_order():
    await emit(round=1)
    before = await sync_to_async(last_event_seq)()
    client = await connect(hello={"type": "snapshot"})
    (snapshot,) = await receive(client, 1)
    assert snapshot["type"] == "snapshot" and snapshot["seq"] == before
    assert "experiments" in snapshot["data"]
    seqs = [await emit(round=r) for r in range(2, 7)]
    events = await receive(client, 5)
    assert [e["seq"] for e in events] == seqs
    assert [e["data"]["round"] for e in events] == [2, 3, 4, 5, 6]
    assert await client.receive_nothing(timeout=0.3)
    await client.disconnect()


async def test_a_client_that_says_nothing_gets_a_snapshot_after_a_short_wait(monkeypatch):
    monkeypatch.setattr(consumers, "HELLO_TIMEOUT", 0.2)
    seq = await emit(round=1)
    client = await connect()
    (snapshot,) = await receive(client, 1)
    assert snapshot["type"] == "snapshot" and snapshot["seq"] == seq
    # Its chance to choose has passed: a late opening message is a protocol error.
    await client.send_to(text_data='{"type": "resume", "after": 0}')
    assert (await client.receive_output(timeout=2))["code"] == protocol.CLOSE_INVALID_MESSAGE


async def test_a_reconnecting_client_gets_exactly_what_it_missed():
    client = await connect(hello={"type": "snapshot"})
    await receive(client, 1)
    for r in range(3):
        await emit(round=r)
    seen = [e["seq"] for e in await receive(client, 3)]
    await client.disconnect()

    missed = [await emit(round=r) for r in range(3, 8)]
    client = await connect(hello={"type": "resume", "after": seen[-1]})
    live = [await emit(round=8)]
    events = await receive(client, 6)
    assert [e["seq"] for e in events] == missed + live
    assert await client.receive_nothing(timeout=0.3)
    await client.disconnect()


async def test_a_resume_from_before_the_in_memory_window_is_served_from_the_database(settings):
    settings.FEDCHAIN_LIVE_RECENT_EVENTS = 3
    watcher = await connect(hello={"type": "snapshot"})  # keeps this process's poller running
    await receive(watcher, 1)
    seqs = [await emit(round=r) for r in range(10)]
    await receive(watcher, 10)
    late = await connect(hello={"type": "resume", "after": seqs[1]})
    events = await receive(late, 8)
    assert [e["seq"] for e in events] == seqs[2:]
    assert await late.receive_nothing(timeout=0.3)
    await late.disconnect()
    await watcher.disconnect()


async def test_a_resume_from_a_pruned_seq_gets_a_fresh_snapshot_instead_of_a_gap():
    first = await emit(type="mining_progress", nonces=1)
    await emit(type="block", height=1)
    for nonces in range(2, 6):
        await emit(type="mining_progress", nonces=nonces)
    assert await sync_to_async(outbox_prune)(keep_mining_progress=2) == 3
    client = await connect(hello={"type": "resume", "after": first})
    (message,) = await receive(client, 1)
    assert message["type"] == "snapshot" and message["seq"] == await sync_to_async(last_event_seq)()
    assert await client.receive_nothing(timeout=0.3)
    await client.disconnect()


async def test_a_seq_from_another_database_gets_a_fresh_snapshot():
    seq = await emit(round=1)
    client = await connect(hello={"type": "resume", "after": seq + 1000})
    (message,) = await receive(client, 1)
    assert message["type"] == "snapshot" and message["seq"] == seq
    await client.disconnect()


async def test_many_clients_joining_at_different_moments_each_get_a_gapless_sequence():
    writer_done = asyncio.Event()
    emitted = []

    async def writer():
        for r in range(40):
            emitted.append(await emit(round=r))
            if r % 8 == 0:
                await asyncio.sleep(0.05)
        writer_done.set()

    async def reader(delay):
        await asyncio.sleep(delay)
        client = await connect(hello={"type": "snapshot"})
        (snapshot,) = await receive(client, 1)
        seqs = []
        while not (writer_done.is_set() and (seqs[-1] if seqs else snapshot["seq"]) == emitted[-1]):
            message = await client.receive_json_from(timeout=5)
            seqs.append(message["seq"])
        await client.disconnect()
        return snapshot["seq"], seqs

    results = await asyncio.gather(writer(), *(reader(0.03 * i) for i in range(12)))
    for start, seqs in results[1:]:
        assert seqs == [seq for seq in emitted if seq > start]


async def test_a_page_that_is_not_ours_cannot_open_the_websocket():
    communicator = WebsocketCommunicator(application, "/ws/dashboard/", headers=[(b"origin", b"http://evil.example")])
    connected, _ = await communicator.connect()
    assert not connected
    communicator = WebsocketCommunicator(application, "/ws/dashboard/")  # no Origin at all
    connected, _ = await communicator.connect()
    assert not connected


@pytest.mark.parametrize(
    "frame",
    [
        {"text_data": "not json"},
        {"text_data": '{"type": "resume", "after": -5}'},
        {"text_data": '{"type": "resume", "after": "12"}'},
        {"text_data": '{"type": "hello"}'},
        {"text_data": '{"type": "snapshot", "padding": "' + "x" * 5000 + '"}'},
        {"bytes_data": b'{"type": "snapshot"}'},
    ],
)
async def test_a_bad_message_closes_the_connection_with_a_code(frame):
    client = await connect()
    await client.send_to(**frame)
    closing = await client.receive_output(timeout=2)
    assert closing == {"type": "websocket.close", "code": protocol.CLOSE_INVALID_MESSAGE}


async def test_a_second_opening_message_closes_the_connection():
    client = await connect(hello={"type": "snapshot"})
    assert (await client.receive_json_from(timeout=2))["type"] == "snapshot"
    await client.send_to(text_data='{"type": "snapshot"}')
    assert (await client.receive_output(timeout=2))["code"] == protocol.CLOSE_INVALID_MESSAGE


async def test_an_experiment_stream_starts_from_its_state_and_carries_its_own_events():
    experiment = await sync_to_async(experiment_create)(name="streamed", dataset="iris", clients=3, rounds=2)
    client = await connect(f"/ws/experiments/{experiment.id}/", hello={"type": "snapshot"})
    (snapshot,) = await receive(client, 1)
    assert snapshot["data"]["experiment"]["name"] == "streamed"
    assert [c["index"] for c in snapshot["data"]["clients"]] == [0, 1, 2]
    own = await emit(experiment_id=experiment.id, round=1)
    await emit(experiment_id=experiment.id + 1, round=1)
    chain = await emit(type="chain_status", valid=True)
    assert [e["seq"] for e in await receive(client, 2)] == [own, chain]
    assert await client.receive_nothing(timeout=0.3)
    await client.disconnect()


async def test_the_stream_of_an_unknown_experiment_closes_with_not_found():
    communicator = WebsocketCommunicator(application, "/ws/experiments/999/", headers=[ORIGIN])
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_output(timeout=2))["code"] == protocol.CLOSE_NOT_FOUND


async def test_a_failure_while_building_the_snapshot_closes_with_a_server_error_code(monkeypatch):
    def broken():
        raise RuntimeError("the database went away")

    monkeypatch.setattr(selectors, "overview_state", broken)
    client = await connect(hello={"type": "snapshot"})
    assert (await client.receive_output(timeout=3))["code"] == protocol.CLOSE_SERVER_ERROR
