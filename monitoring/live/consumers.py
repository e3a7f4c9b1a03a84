"""WebSocket consumers: join a group, send a snapshot, pass events on (docs/architecture.md, "WebSockets").

Both consumers accept the handshake before closing a refused client, so the
browser sees the close code: 4403 not allowed, 4404 unknown job (4429: the
client fell too far behind, monitoring.live.outbox). Access is
checked again while the socket is open (monitoring/live/access.py): every
``WS_ACCESS_RECHECK_SECONDS`` and at once on logout or a change to the user;
a socket that lost it is closed with 4403 and gets nothing more. Events come
from ``monitoring.live.relay`` already serialised; a consumer only drops those the
snapshot already covers (sequence number not above the snapshot's).
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from jobs.core.access import can_view
from jobs.core.shape import parse_job_id
from jobs.selectors.queues import queues_live
from monitoring.live.access import scope_session_key, session_group, still_allowed, user_group
from monitoring.live.outbox import BoundedSends
from monitoring.live.relay import FEED_GROUP, Relay, ensure_relay, job_group
from monitoring.live.snapshots import job_snapshot

logger = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


class _WatchConsumer(BoundedSends, AsyncWebsocketConsumer):
    #: The socket's access groups (its user's, its session's; joined once allowed) and the task re-checking.
    access_groups: tuple[str, ...] = ()
    watch: asyncio.Task | None = None
    #: Set when access was lost: nothing more is sent, whatever is still in flight.
    refused = False

    async def _allowed(self) -> bool:
        await self.accept()
        if not await database_sync_to_async(can_view)(self.scope.get("user")):
            await self.close(code=CLOSE_FORBIDDEN)
            return False
        key = scope_session_key(self.scope)
        self.access_groups = (user_group(self.scope["user"].pk), *((session_group(key),) if key else ()))
        for group in self.access_groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.watch = asyncio.get_running_loop().create_task(self._watch_access(), name="ws-access")
        return True

    async def _watch_access(self) -> None:
        while not self.refused:
            await asyncio.sleep(settings.WS_ACCESS_RECHECK_SECONDS)
            await self.access_recheck({})

    async def access_recheck(self, message: dict[str, Any]) -> None:
        """Periodically, and on ``access.recheck`` (a logout or a change to the user): close with 4403 if lost."""
        if self.refused:
            return
        try:
            if await database_sync_to_async(still_allowed)(self.scope):
                return
        except Exception:  # cannot tell (database away): closed, as a refused socket; the client reconnects
            logger.warning("event=ws_recheck_error path=%s", self.scope.get("path"), exc_info=True)
        await self.access_revoke({})

    async def access_revoke(self, message: dict[str, Any]) -> None:
        """On ``access.revoke`` (this socket's session logged out), or a failed re-check: close with 4403."""
        if self.refused:
            return
        self.refused = True
        await self._leave_groups()
        await self.close(code=CLOSE_FORBIDDEN)

    async def _leave_groups(self) -> None:
        """Leave the event groups (each consumer its own) and the access group."""
        for group in self.access_groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.access_groups = ()

    async def disconnect(self, code: int) -> None:
        if self.watch is not None and self.watch is not asyncio.current_task():
            self.watch.cancel()
        await self._leave_groups()

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False) -> None:
        if not self.refused:
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)

    async def _send_json(self, message: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(message, separators=(",", ":")))


class JobConsumer(_WatchConsumer):
    """``ws/jobs/<id>/``: the job's snapshot, then each of its events in order."""

    group: str | None = None
    seq = 0

    async def connect(self) -> None:
        if not await self._allowed():
            return
        job_id = parse_job_id(self.scope["url_route"]["kwargs"]["job_id"])
        if job_id is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await ensure_relay()
        # Join before reading the snapshot, so no event falls between the two.
        self.group = job_group(job_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        snapshot = await database_sync_to_async(job_snapshot)(job_id)
        if snapshot is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.seq, job = snapshot
        await self._send_json({"type": "job.snapshot", "job": job, "seq": self.seq})

    async def _leave_groups(self) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None
        await super()._leave_groups()

    async def job_events(self, message: dict[str, Any]) -> None:
        for seq, text in message["events"]:
            if seq > self.seq:
                self.seq = seq
                await self.send(text_data=text)


class QueuesConsumer(_WatchConsumer):
    """``ws/queues/``: counts per state and the pause switch of every queue, then count changes and job events."""

    relay: Relay | None = None

    async def connect(self) -> None:
        if not await self._allowed():
            return
        self.relay = await ensure_relay()
        self.relay.feed_watchers += 1
        await self.channel_layer.group_add(FEED_GROUP, self.channel_name)
        queues = await database_sync_to_async(queues_live)()
        await self._send_json({"type": "queues.snapshot", "queues": queues})

    async def _leave_groups(self) -> None:
        if self.relay is not None:
            self.relay.feed_watchers -= 1
            await self.channel_layer.group_discard(FEED_GROUP, self.channel_name)
            self.relay = None
        await super()._leave_groups()

    async def job_events(self, message: dict[str, Any]) -> None:
        for _, text in message["events"]:
            await self.send(text_data=text)

    async def queues_counts(self, message: dict[str, Any]) -> None:
        await self._send_json({"type": "queues.counts", "queues": message["queues"]})
