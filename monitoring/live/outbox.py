"""A socket's bounded send queue: a client that cannot keep up is closed, not buffered for without end.

The server's send waits while the client does not read (backpressure), and
Channels hands a consumer its group messages one at a time, so behind a
stalled browser every event of the feed would pile up in the channel
layer's per-channel queue (the pub/sub layer's has no bound) and grow the
web process. Here each socket's sends go through a queue of at most
WEBSOCKET_SEND_QUEUE_MAX messages drained by a task of its own; when it is
full the socket is closed with CLOSE_TOO_SLOW. The dashboard's scripts
reconnect on that code and start again from a fresh snapshot
(monitoring/static/monitoring/dashboard.js, job_progress.js).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

#: Close code for a client that fell WEBSOCKET_SEND_QUEUE_MAX messages behind (it may reconnect).
CLOSE_TOO_SLOW = 4429


class BoundedSends:
    """Mixin for an AsyncWebsocketConsumer: ``send`` queues, a task sends; a full queue closes the socket."""

    _outbox: asyncio.Queue | None = None
    _sender: asyncio.Task | None = None
    _too_slow = False

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False) -> None:
        if self._too_slow:
            return
        if self._outbox is None:
            self._outbox = asyncio.Queue(maxsize=settings.WEBSOCKET_SEND_QUEUE_MAX)
            self._sender = asyncio.get_running_loop().create_task(self._drain())
        try:
            self._outbox.put_nowait((text_data, bytes_data, close))
        except asyncio.QueueFull:
            self._too_slow = True
            self._stop_sender()
            path = self.scope.get("path")  # type: ignore[attr-defined]
            logger.warning("event=websocket_too_slow path=%s queued=%d", path, self._outbox.qsize())
            await self.close(code=CLOSE_TOO_SLOW)  # type: ignore[attr-defined]

    async def _drain(self) -> None:
        assert self._outbox is not None
        while True:
            text_data, bytes_data, close = await self._outbox.get()
            try:
                await super().send(text_data=text_data, bytes_data=bytes_data, close=close)  # type: ignore[misc]
            except Exception as exc:  # the connection went away under the send: its disconnect follows
                logger.info("event=websocket_send_failed error=%r", exc)
                return

    def _stop_sender(self) -> None:
        if self._sender is not None:
            self._sender.cancel()

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        self._stop_sender()
        await super().websocket_disconnect(message)  # type: ignore[misc]
