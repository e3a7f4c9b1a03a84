"""Request bodies over the limit are refused (413) before they are read.

Django's ASGI handler reads the whole body into a temporary file (on disk
past FILE_UPLOAD_MAX_MEMORY_SIZE) before any view or middleware runs, and
applies DATA_UPLOAD_MAX_MEMORY_SIZE only when the view reads it; uvicorn has
no body limit of its own. So a client could make the server spool any
amount of data to disk. This ASGI middleware stands in front of Django
(jobsite/asgi.py): a Content-Length over the limit is answered at once,
without reading a byte of the body, and a body without one (chunked) is cut
off as soon as it passes the limit.
"""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]


class BodySizeLimit:
    """Wraps an HTTP ASGI app; ``limit`` in bytes (None: no limit)."""

    def __init__(self, app: ASGIApp, limit: int | None) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        limit = self.limit
        if scope["type"] != "http" or limit is None:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(send)
            return
        received = 0
        cut_off = started = False

        async def limited_receive() -> Message:
            nonlocal received, cut_off
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # What Django does when the client goes away mid-body: it stops reading and answers nothing.
                    cut_off = True
                    return {"type": "http.disconnect"}
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, limited_receive, watched_send)
        if cut_off and not started:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"detail": f"request body larger than {self.limit:,} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: MutableMapping[str, Any]) -> int | None:
    """The declared body length; None when absent or malformed (then the count of received bytes decides)."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
