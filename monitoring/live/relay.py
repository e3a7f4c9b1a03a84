"""Relays the event stream into Channels groups, inside the web (ASGI) process.

Workers publish events with one cheap Redis call (jobs.events.stream); this
task reads them and sends them on with ``group_send``: per job (``job.<id>``)
and to the feed (``jobs.feed``). The relay reads through the Redis consumer
group ``relay``, so with several web processes each event is relayed by
exactly one of them, and the channel layer takes it to consumers in all of
them. Events of a batch go out as one message per group.

The feed also gets queue counts. They come from PostgreSQL, not from adding up
events (the scheduler's promotions and the lifeline's rescues change counts
too): at most once a second while events flow, and every few seconds while
someone in this process watches the feed; one process per second does it.

The relay starts with the first WebSocket connection of a process and runs
until its event loop ends.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import weakref
from typing import Any

import redis
import redis.asyncio
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from jobs.events.stream import STREAM, StreamEvent, decode
from jobs.selectors.queues import queues_live

logger = logging.getLogger(__name__)

RELAY_GROUP = "relay"
FEED_GROUP = "jobs.feed"
COUNTS_LOCK = "monitoring:counts-lock"
#: Entries older than this are not relayed (the web process was down; clients reload snapshots).
STALE_AFTER = 60.0
BATCH = 500
COUNTS_INTERVAL = 1.0
COUNTS_IDLE_INTERVAL = 5.0


def job_group(job_id: object) -> str:
    return f"job.{job_id}"


class Relay:
    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.client = redis.asyncio.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1)
        self.consumer = f"{socket.gethostname()}.{os.getpid()}.{id(self):x}"
        self.ready = asyncio.Event()
        self.feed_watchers = 0
        self.task: asyncio.Task | None = None
        self._dirty = False
        self._counts_at = 0.0
        self._counts_sent: list[dict[str, Any]] | None = None
        self._counts_task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.run(), name="event-relay")

    async def stop(self) -> None:
        for task in (self.task, self._counts_task):
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass
        await self.client.aclose()

    async def run(self) -> None:
        while True:
            try:
                await self._create_group()
                self.ready.set()
                await self._relay_forever()
            except redis.RedisError as exc:
                logger.warning("event=relay_redis_error error=%r; retrying in 1 s", exc)
                await asyncio.sleep(1)

    async def _create_group(self) -> None:
        try:
            await self.client.xgroup_create(STREAM, RELAY_GROUP, id="$", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _relay_forever(self) -> None:
        while True:
            try:
                reply = await self.client.xreadgroup(RELAY_GROUP, self.consumer, {STREAM: ">"},
                                                     count=BATCH, block=1000, noack=True)
            except redis.ResponseError as exc:
                if "NOGROUP" in str(exc):  # Redis was flushed: start again from now
                    await self._create_group()
                    continue
                raise
            oldest = (time.time() - STALE_AFTER) * 1000
            events = [decode(entry_id, fields) for _, entries in reply or [] for entry_id, fields in entries
                      if int(entry_id.split(b"-")[0]) >= oldest]
            if events:
                await self.relay(events)
                self._dirty = True
            self._maybe_send_counts()

    async def relay(self, events: list[StreamEvent]) -> None:
        """One group_send per job in the batch, one to the feed; each keeps the stream's order. Log lines
        (``job.log`` entries) go to their job's group only: no list on the dashboard shows them."""
        by_job: dict[str, list[tuple[int, str]]] = {}
        for event in events:
            by_job.setdefault(event.job_id, []).append((event.seq, event.text))
        sends = [self.layer.group_send(job_group(job_id), {"type": "job.events", "events": items})
                 for job_id, items in by_job.items()]
        feed = [(e.seq, e.text) for e in events if not e.is_log]
        if feed:
            sends.append(self.layer.group_send(FEED_GROUP, {"type": "job.events", "events": feed}))
        results = await asyncio.gather(*sends, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                logger.warning("event=relay_send_failed error=%r", result)

    def _maybe_send_counts(self) -> None:
        interval = COUNTS_INTERVAL if self._dirty else COUNTS_IDLE_INTERVAL if self.feed_watchers else None
        if interval is None or time.monotonic() - self._counts_at < interval:
            return
        if self._counts_task is None or self._counts_task.done():
            self._counts_at = time.monotonic()
            self._counts_task = asyncio.get_running_loop().create_task(self._send_counts())

    async def _send_counts(self) -> None:
        try:
            if not await self.client.set(COUNTS_LOCK, self.consumer, nx=True, px=int(COUNTS_INTERVAL * 900)):
                return  # another web process counts this second
            self._dirty = False
            queues = await database_sync_to_async(queues_live)()
            # Pages take counts and charts from these messages alone (monitoring/static/monitoring/
            # dashboard.js), so numbers they already have need not go again.
            if queues != self._counts_sent:
                self._counts_sent = queues
                await self.layer.group_send(FEED_GROUP, {"type": "queues.counts", "queues": queues})
        except Exception:
            logger.exception("event=relay_counts_failed")


_relays: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Relay] = weakref.WeakKeyDictionary()


async def ensure_relay() -> Relay:
    """This event loop's relay, started if needed; waits (briefly) until it reads the stream."""
    loop = asyncio.get_running_loop()
    relay = _relays.get(loop)
    if relay is None or relay.task is None or relay.task.done():
        relay = _relays[loop] = Relay()
        relay.start()
    try:
        await asyncio.wait_for(relay.ready.wait(), timeout=2)
    except asyncio.TimeoutError:
        logger.warning("event=relay_not_ready; is Redis reachable?")
    return relay


async def stop_relay() -> None:
    """Stop this event loop's relay (tests; a server's relay ends with its loop)."""
    relay = _relays.pop(asyncio.get_running_loop(), None)
    if relay is not None:
        await relay.stop()
