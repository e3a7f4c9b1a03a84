"""The Redis event stream: how events leave the process that emitted them.

Publishing never calls ``group_send`` (~3 ms from sync code): a Lua script
increments the job's sequence number and appends the finished WebSocket
message to the stream ``jobs:events``, one round trip on the process's
existing Redis client (``jobs.core.transport.redis_connection``) for a whole batch
of events. The web process relays the stream to Channels groups
(``monitoring.live.relay``); the CLI reads it directly (``jobs.management.cli.follow_job``).

Sequence numbers grow per job. A new counter (first event, or after the key
expired or Redis was flushed) starts at the Redis clock in microseconds, so a
job's numbers keep growing across expiry and flushes; the key therefore only
needs to live 15 minutes from its creation, not as long as the job, and only a
minute after the job's final event.

Progress ticks are thinned here, not in ``ctx.progress``: every stage change,
100 % and the first tick go out; faster ticks go out at most every
PROGRESS_INTERVAL per job, the newest one winning, sent by the helper thread
when the handler goes quiet (so the last value is never stuck).

Log lines of running jobs travel on the same stream as ``job.log`` entries
(``publish_log_lines``), numbered in their job's sequence; readers of
lifecycle events skip them (``StreamEvent.is_log``).
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

import redis
from django.conf import settings

from jobs.core.config import get_config
from jobs.core.log_lines import LogLine
from jobs.core.transport import eval_script, redis_connection
from jobs.events.emit import JobEvent

logger = logging.getLogger(__name__)

STREAM = "jobs:events"
#: Approximate length the stream is trimmed to: a buffer for readers, not a history. Entries older than
#: JOB_EVENT_STREAM_MAX_AGE go too; events carry previews, not whole payloads (jobs.core.shape.event_shape),
#: so the stream stays a few MB at most.
STREAM_MAXLEN = 10_000
SEQ_KEY = "jobs:seq:"
SEQ_TTL = 900
#: After a job's final event its counter is kept only as long as the relay may still be passing on
#: its events (monitoring.live.relay.STALE_AFTER): a finished job leaves nothing in Redis for long.
FINAL_SEQ_TTL = 60
FINAL_EVENTS = frozenset({"job:completed", "job:failed", "job:cancelled"})
#: At most one progress tick per job per this many seconds (20/s) reaches the stream.
PROGRESS_INTERVAL = 0.05
#: After Redis fails, events are dropped (not tried) for this long, so a handler's
#: progress calls do not each wait for a connect timeout while Redis is away.
RETRY_AFTER = 5.0
#: Events wait at most this long (seconds) for the helper thread, or until this many wait.
BATCH_DELAY = 0.005
BATCH_MAX = 500
#: The helper polls every BATCH_DELAY while state changes flow; after this long without any it parks.
IDLE_AFTER = 0.05

# A job's next sequence number (see the module's docstring). Numbers are formatted with %d: Lua's
# default format would print 16 digits in exponent notation.
_NEXT_SEQ = """
local now = nil
local function next_seq(key, ttl)
  local s = redis.call('INCR', key)
  if s ~= 1 then return string.format('%d', s) end
  now = now or redis.call('TIME')
  s = string.format('%d', tonumber(now[1]) * 1000000 + tonumber(now[2]))
  redis.call('SET', key, s, 'EX', ttl)
  return s
end
"""

# One call publishes a batch: KEYS = the stream, then each event's sequence key;
# ARGV = maxlen, ttl, ttl after a final event, max age in ms, then (job id, message without its
# opening brace, "1" if the event is final) per event. The stream is trimmed by length as entries
# are added and by age (MINID) once per batch, so neither a burst nor a quiet hour keeps old events.
_PUBLISH = _NEXT_SEQ + """
local seqs = {}
for i = 2, #KEYS do
  local s = next_seq(KEYS[i], ARGV[2])
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'j', ARGV[3 * i - 1], 's', s,
             'm', '{"type":"job.event","seq":' .. s .. ',' .. ARGV[3 * i])
  if ARGV[3 * i + 1] == '1' then redis.call('EXPIRE', KEYS[i], ARGV[3]) end
  seqs[#seqs + 1] = s
end
now = now or redis.call('TIME')
redis.call('XTRIM', KEYS[1], 'MINID',
           string.format('%d', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[4])))
return seqs
"""


def publish(events: list[JobEvent]) -> list[int]:
    """Append events to the stream in one round trip (one script call); returns their sequence numbers."""
    keys = [STREAM]
    args: list[Any] = [STREAM_MAXLEN, SEQ_TTL, FINAL_SEQ_TTL, int(get_config().event_stream_max_age * 1000)]
    for event in events:
        body = json.dumps({"event": event.name, "job": event.job, "at": event.message()["at"]},
                          separators=(",", ":"), default=str)
        keys.append(SEQ_KEY + event.job_id)
        args += [event.job_id, body[1:], "1" if event.name in FINAL_EVENTS else "0"]
    seqs = eval_script(_PUBLISH, keys, args)
    return [int(seq) for seq in seqs]  # type: ignore[union-attr]


#: How a ``job.log`` entry's message begins: readers that follow state changes skip these by it.
LOG_MESSAGE_START = '{"type":"job.log",'

# Log lines of running jobs (jobs.execution.run_log), one entry per attempt in the batch: KEYS = the
# stream, then each entry's job's sequence key; ARGV = maxlen, ttl, then (job id, message without its
# opening brace) per entry. Numbered in the job's sequence like its events, so a socket that starts
# from a snapshot passes on only the lines written after it; trimmed with the next batch of events.
_PUBLISH_LOG = _NEXT_SEQ + """
for i = 2, #KEYS do
  local s = next_seq(KEYS[i], ARGV[2])
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'j', ARGV[2 * i - 1], 's', s,
             'm', '{"type":"job.log","seq":' .. s .. ',' .. ARGV[2 * i])
end
"""


def publish_log_lines(lines: list[LogLine]) -> None:
    """Put lines just stored on the stream for the job pages watching (ws/jobs/<id>/), one entry per attempt.

    Not an event: lines do not go through ``emit``'s sinks (the log sink would log them twice), nor
    to webhooks or the dashboard's feed (monitoring.live.relay sends them only to the job's group).
    Each message is ``{"type": "job.log", "seq", "job_id", "attempt", "lines": [LogLineShape, …]}``.
    """
    by_attempt: dict[int, list[LogLine]] = {}
    for line in lines:
        by_attempt.setdefault(line.attempt_id, []).append(line)
    keys: list[str] = [STREAM]
    args: list[Any] = [STREAM_MAXLEN, SEQ_TTL]
    for batch in by_attempt.values():
        body = json.dumps({"job_id": batch[0].job_id, "attempt": batch[0].attempt,
                           "lines": [line.public() for line in batch]}, separators=(",", ":"))
        keys.append(SEQ_KEY + batch[0].job_id)
        args += [batch[0].job_id, body[1:]]
    eval_script(_PUBLISH_LOG, keys, args)


class StreamSink:
    """The event sink that publishes to the stream: batched, mostly off the caller's thread, ticks thinned.

    Events wait at most BATCH_DELAY and go out together from a helper thread
    that polls while they flow and parks when idle, so a busy worker neither
    waits for Redis per job nor wakes a thread per event (publishing each event
    from the caller cost the worker ~15 % of its no-op throughput here; batched
    off-thread ~9 %). Progress ticks (at most 20/s a job, as thinned below) join
    the same batches, in order; a worker's fifty slots ticking at once then
    cost one round trip, not fifty in a row.
    """

    def __init__(self, interval: float = PROGRESS_INTERVAL, delay: float = BATCH_DELAY) -> None:
        self.interval = interval
        self.delay = delay
        self._reset()
        os.register_at_fork(after_in_child=self._reset)
        atexit.register(self.flush)

    def _reset(self) -> None:
        # One lock for all publishing in this process keeps each job's events in order
        # between the emitting threads and the helper.
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._pending: list[JobEvent] = []  # waiting for the next round trip
        self._since = 0.0  # when the oldest of them arrived
        self._last: dict[str, tuple[float, str]] = {}  # job -> (when its last tick went out, its stage)
        self._held: dict[str, JobEvent] = {}  # job -> newest tick not due yet
        self._active_at = 0.0
        self._thread: threading.Thread | None = None
        self._parked = False
        self._down: tuple[str, float] = ("", 0.0)  # (REDIS_URL that failed, until when to skip it)

    def __call__(self, events: list[JobEvent]) -> list[JobEvent]:
        now = time.monotonic()
        sent: dict[int, int] = {}
        with self._lock:
            for event in events:
                if event.name == "job:progress":
                    if not self._tick_due(event, now):
                        self._held[event.job_id] = event
                        continue
                    # At most 20/s a job; batched like state changes, in order: fifty slots
                    # ticking at once must not queue up behind one another for Redis.
                else:
                    # A state change carries the job's latest state; a held-back tick would only be older.
                    self._held.pop(event.job_id, None)
                    self._last.pop(event.job_id, None)
                    self._active_at = now
                if not self._pending:
                    self._since = now
                self._pending.append(event)
            if len(self._pending) >= BATCH_MAX:
                sent = self._send_pending()
            elif self._pending or self._held:
                self._wake_helper()
        return [replace(event, seq=sent[id(event)]) if id(event) in sent else event for event in events]

    def flush(self) -> None:
        """Send everything waiting, held-back ticks included, now."""
        with self._lock:
            now = time.monotonic()
            for job, event in list(self._held.items()):
                self._release(job, event, now)
            self._send_pending()

    def _tick_due(self, event: JobEvent, now: float) -> bool:
        progress = event.job.get("progress") or {}
        stage = progress.get("stage", "")
        last = self._last.get(event.job_id)
        if last is None or stage != last[1] or progress.get("percent") == 100 or now - last[0] >= self.interval:
            self._last[event.job_id] = (now, stage)
            self._held.pop(event.job_id, None)
            return True
        return False

    def _release(self, job: str, event: JobEvent, now: float) -> None:
        del self._held[job]
        self._last[job] = (now, (event.job.get("progress") or {}).get("stage", ""))
        if not self._pending:
            self._since = now
        self._pending.append(event)

    def _send_pending(self) -> dict[int, int]:
        """Publish what is waiting (lock held); the sequence number of each, by id()."""
        batch, self._pending = self._pending, []
        if not batch:
            return {}
        url = settings.REDIS_URL
        if self._down[0] == url and time.monotonic() < self._down[1]:
            return {}  # Redis is away: drop (it is transport; clients reload snapshots)
        try:
            return {id(event): seq for event, seq in zip(batch, publish(batch))}
        except redis.RedisError as exc:
            self._down = (url, time.monotonic() + RETRY_AFTER)
            logger.warning("event=stream_unavailable error=%r; dropping events for %.0f s", exc, RETRY_AFTER)
            return {}

    def _wake_helper(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run_helper, name="job-events", daemon=True)
            self._thread.start()
        elif self._parked:
            self._wakeup.notify()

    def _run_helper(self) -> None:
        with self._lock:
            while True:
                now = time.monotonic()
                for job, event in list(self._held.items()):
                    if self._last.get(job, (0.0, ""))[0] + self.interval <= now:
                        self._release(job, event, now)
                if self._pending and now - self._since >= self.delay:
                    try:
                        self._send_pending()
                    except Exception:
                        logger.exception("event=stream_publish_failed")
                if not self._pending and not self._held and now - self._active_at >= IDLE_AFTER:
                    self._parked = True
                    self._wakeup.wait()
                    self._parked = False
                else:
                    self._wakeup.wait(self.delay)


stream_sink = StreamSink()


# --- reading --------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamEvent:
    """One stream entry: the job, its sequence number and the WebSocket message as text."""

    entry_id: str
    job_id: str
    seq: int
    text: str

    def message(self) -> dict[str, Any]:
        return json.loads(self.text)

    @property
    def is_log(self) -> bool:
        """Log lines of a running job (``publish_log_lines``), not a lifecycle event."""
        return self.text.startswith(LOG_MESSAGE_START)


def decode(entry_id: bytes | str, fields: dict[bytes, bytes]) -> StreamEvent:
    return StreamEvent(
        entry_id=entry_id.decode() if isinstance(entry_id, bytes) else entry_id,
        job_id=fields[b"j"].decode(),
        seq=int(fields[b"s"]),
        text=fields[b"m"].decode(),
    )


def current_seq(job_id: object) -> int:
    """The job's latest sequence number (0 if it has none in Redis)."""
    value = redis_connection().get(SEQ_KEY + str(job_id))
    return int(value) if value else 0


def stream_position() -> str:
    """The id of the newest entry, to read only what comes after it."""
    newest = redis_connection().xrevrange(STREAM, count=1)
    return newest[0][0].decode() if newest else "0-0"


def read_after(position: str, *, block: float, count: int = 500) -> tuple[str, list[StreamEvent]]:
    """Entries after ``position``, waiting up to ``block`` seconds for the first; returns the new position."""
    reply = redis_connection().xread({STREAM: position}, count=count, block=max(1, int(block * 1000)))
    events = [decode(entry_id, fields) for _, entries in reply for entry_id, fields in entries]
    return (events[-1].entry_id if events else position), events
