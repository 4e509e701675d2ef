"""Websocket abuse: unknown paths, floods, huge frames, too many connections from one client, and resumes from
long ago; each gets a close code, nothing gets a traceback, and the server keeps serving others."""

import pytest
from channels.testing import WebsocketCommunicator

from apps.dashboard import protocol
from fedchain_site.asgi import application

from .test_live_stream import ORIGIN, connect, emit, receive

pytestmark = pytest.mark.django_db(transaction=True)


def communicator(path="/ws/dashboard/", client=("127.0.0.1", 50000)):
    opened = WebsocketCommunicator(application, path, headers=[ORIGIN, (b"host", b"127.0.0.1")])
    opened.scope["client"] = list(client)
    return opened


async def closing_code(client):
    return (await client.receive_output(timeout=3))["code"]


@pytest.mark.parametrize("path", ["/ws/", "/ws/nothing/", "/ws/experiments/x/", "/socket.io/", "/ws/dashboard"])
async def test_an_unknown_path_is_closed_as_not_found(path, caplog):
    client = communicator(path)
    connected, _ = await client.connect()
    assert connected and await closing_code(client) == protocol.CLOSE_NOT_FOUND
    assert "Traceback" not in caplog.text and "No route found" not in caplog.text


async def test_one_client_may_hold_only_so_many_connections(settings):
    settings.FEDCHAIN_LIVE_CONNECTIONS_PER_CLIENT = 3
    held = []
    for _ in range(3):
        client = communicator()
        assert (await client.connect())[0]
        held.append(client)
    extra = communicator()
    assert (await extra.connect())[0] and await closing_code(extra) == protocol.CLOSE_TOO_MANY_CONNECTIONS
    other = communicator(client=("127.0.0.2", 50001))  # another address is not affected
    await other.connect()
    await other.send_to(text_data='{"type": "snapshot"}')
    assert (await other.receive_json_from(timeout=3))["type"] == "snapshot"
    await held.pop().disconnect()
    again = communicator()
    await again.connect()
    await again.send_to(text_data='{"type": "snapshot"}')
    assert (await again.receive_json_from(timeout=3))["type"] == "snapshot"  # a freed place can be taken
    for client in [*held, other, again]:
        await client.disconnect()


async def test_a_resume_from_further_back_than_the_replay_limit_gets_a_snapshot(settings):
    settings.FEDCHAIN_LIVE_MAX_REPLAY = 3
    seqs = [await emit(round=number) for number in range(6)]
    late = await connect(hello={"type": "resume", "after": seqs[0]})
    (first,) = await receive(late, 1)
    assert first["type"] == "snapshot" and first["seq"] == seqs[-1]
    near = await connect(hello={"type": "resume", "after": seqs[3]})
    assert [event["seq"] for event in await receive(near, 2)] == seqs[4:]
    await late.disconnect()
    await near.disconnect()


async def test_a_huge_frame_or_a_flood_closes_that_connection_and_others_are_served():
    huge = await connect()
    await huge.send_to(text_data="x" * 1_000_000)
    assert await closing_code(huge) == protocol.CLOSE_INVALID_MESSAGE
    flood = await connect(hello={"type": "snapshot"})
    for _ in range(1000):
        await flood.send_to(text_data='{"type": "snapshot"}')
    output = await flood.receive_output(timeout=3)
    if output["type"] == "websocket.send":  # the snapshot may go out before the second message is read
        output = await flood.receive_output(timeout=3)
    assert output == {"type": "websocket.close", "code": protocol.CLOSE_INVALID_MESSAGE}
    fine = await connect(hello={"type": "snapshot"})
    assert (await fine.receive_json_from(timeout=3))["type"] == "snapshot"
    await fine.disconnect()
