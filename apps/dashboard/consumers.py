"""Websockets of the live dashboard: /ws/dashboard/ (the overview) and /ws/experiments/<id>/."""

import asyncio
import logging
from collections import Counter

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from . import protocol, selectors
from .relay import Subscription, get_relay, run_query

logger = logging.getLogger(__name__)

# How long the server waits for a client's opening message before sending a fresh snapshot.
HELLO_TIMEOUT = 2.0

# Open live websockets per client address in this process (settings.FEDCHAIN_LIVE_CONNECTIONS_PER_CLIENT caps it).
_open_per_client = Counter()


class LiveConsumer(AsyncWebsocketConsumer):
    stream = protocol.Stream()
    _hello = None  # the client's opening message, once connected
    _follower = None  # the task that sends the stream
    _counted = None  # the client address this connection counts against, once accepted

    def build_snapshot(self):
        """Each page's consumer says what a fresh client starts from (the overview or one experiment)."""
        raise NotImplementedError

    async def connect(self):
        client = (self.scope.get("client") or ["unknown"])[0]
        if _open_per_client[client] >= settings.FEDCHAIN_LIVE_CONNECTIONS_PER_CLIENT:
            logger.info("refusing a websocket from %s: it has %d open already", client, _open_per_client[client])
            await self.accept()
            await self.close(code=protocol.CLOSE_TOO_MANY_CONNECTIONS)
            return
        _open_per_client[client] += 1
        self._counted = client
        self._hello = asyncio.get_running_loop().create_future()
        await self.accept()
        self._follower = asyncio.create_task(self._follow())

    async def receive(self, text_data=None, bytes_data=None):
        try:
            hello = protocol.parse_client_message(text_data, bytes_data)
            if self._hello is None or self._hello.done():
                raise protocol.ProtocolError("only one opening message is accepted")
        except protocol.ProtocolError as error:
            logger.info("closing a websocket after an invalid message: %s", error)
            await self._stop(protocol.CLOSE_INVALID_MESSAGE)
            return
        self._hello.set_result(hello)

    async def disconnect(self, code):
        if self._follower is not None:
            self._follower.cancel()
        if self._counted is not None:
            _open_per_client[self._counted] -= 1
            if not _open_per_client[self._counted]:
                del _open_per_client[self._counted]
            self._counted = None

    async def _follow(self):
        try:
            try:
                hello = await asyncio.wait_for(asyncio.shield(self._hello), HELLO_TIMEOUT)
            except TimeoutError:
                self._hello.cancel()  # a message arriving now is one too many
                hello = protocol.Hello()
            subscription = Subscription(
                relay=get_relay(), stream=self.stream, send=self._send_text, build_snapshot=self.build_snapshot
            )
            await subscription.run(after=hello.after)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("the live dashboard stream failed")
            await self._stop(protocol.CLOSE_SERVER_ERROR)

    async def _send_text(self, text):
        await self.send(text_data=text)

    async def _stop(self, code):
        if self._follower is not None and self._follower is not asyncio.current_task():
            self._follower.cancel()
        await self.close(code=code)


class DashboardConsumer(LiveConsumer):
    def build_snapshot(self):
        return selectors.overview_state()


class ExperimentConsumer(LiveConsumer):
    async def connect(self):
        self.experiment_id = self.scope["url_route"]["kwargs"]["experiment_id"]
        self.stream = protocol.Stream(experiment_id=self.experiment_id)
        if not await run_query(selectors.experiment_exists, self.experiment_id):
            await self.accept()
            await self.close(code=protocol.CLOSE_NOT_FOUND)
            return
        await super().connect()

    def build_snapshot(self):
        return selectors.experiment_state(self.experiment_id)


class NotFoundConsumer(AsyncWebsocketConsumer):
    """Any other websocket path: closed with 4404 (not a routing error with a traceback)."""

    async def connect(self):
        await self.accept()
        await self.close(code=protocol.CLOSE_NOT_FOUND)
