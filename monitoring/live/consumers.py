"""WebSocket consumers: join a group, send a snapshot, pass events on (docs/architecture.md, "WebSockets").

Both consumers accept the handshake before closing a refused client, so the
browser sees the close code: 4403 not allowed, 4404 unknown job (4429: the
client fell too far behind, monitoring.live.outbox). Events come
from ``monitoring.live.relay`` already serialised; a consumer only drops those the
snapshot already covers (sequence number not above the snapshot's).
"""
from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from jobs.core.permissions import can_view
from jobs.core.shape import parse_job_id
from jobs.selectors.queues import queues_live
from monitoring.live.outbox import BoundedSends
from monitoring.live.relay import FEED_GROUP, Relay, ensure_relay, job_group
from monitoring.live.snapshots import job_snapshot

CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


class _WatchConsumer(BoundedSends, AsyncWebsocketConsumer):
    async def _allowed(self) -> bool:
        await self.accept()
        if not await database_sync_to_async(can_view)(self.scope.get("user")):
            await self.close(code=CLOSE_FORBIDDEN)
            return False
        return True

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

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

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

    async def disconnect(self, code: int) -> None:
        if self.relay is not None:
            self.relay.feed_watchers -= 1
            await self.channel_layer.group_discard(FEED_GROUP, self.channel_name)

    async def job_events(self, message: dict[str, Any]) -> None:
        for _, text in message["events"]:
            await self.send(text_data=text)

    async def queues_counts(self, message: dict[str, Any]) -> None:
        await self._send_json({"type": "queues.counts", "queues": message["queues"]})
