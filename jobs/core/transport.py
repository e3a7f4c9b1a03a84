"""Redis as the transport: the connection, and how logical queues map onto RQ's lists.

RQ carries only a QueueJob id; PostgreSQL holds everything else. Each logical
queue maps onto three RQ lists, one per priority band, and workers listen on
them band first, so a lower priority number runs first across the queues a
worker serves. Pushing to those lists is jobs.engine.dispatch.
"""
from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import redis
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from redis.exceptions import NoScriptError
from rq import Queue

#: (suffix, highest priority number in the band); lower numbers run first.
BANDS: tuple[tuple[str, int], ...] = ((":high", 3), ("", 6), (":low", 9))
#: RQ's own copy of a finished job is only bookkeeping; PostgreSQL keeps results.
RQ_RESULT_TTL = 30
RQ_FAILURE_TTL = 7 * 86400
#: What an RQ message runs (django-rq's ``rqworker`` runs it too).
RUNNER = "jobs.execution.runner.run_job"


@dataclass(frozen=True)
class Dispatch:
    """One hand-over to Redis: the job, where it goes, and the RQ id that carries it this time."""

    job_id: uuid.UUID
    queue: str
    priority: int
    rq_id: str


def new_rq_id(job_id: uuid.UUID) -> str:
    """The RQ id of a new hand-over of ``job_id``: the job's id (so a worker knows which job a popped
    message carries without reading RQ's hash) and 8 random hex digits. Fresh for every hand-over:
    reusing one would let the expiry of a previous run's RQ hash delete the message of the next run."""
    return f"{job_id.hex}{secrets.token_hex(4)}"


#: The same as ``new_rq_id(j.id)``, made in SQL for set-based hand-overs of rows ``j``.
NEW_RQ_ID_SQL = "replace(j.id::text, '-', '') || substr(md5(random()::text), 1, 8)"


def job_id_of(rq_id: str) -> uuid.UUID | None:
    """The QueueJob id a hand-over's RQ id carries (None for an id in another format)."""
    if len(rq_id) != 40:
        return None
    try:
        return uuid.UUID(rq_id[:32])
    except ValueError:
        return None


def rq_queue_name(queue: str, priority: int) -> str:
    for suffix, highest in BANDS:
        if priority <= highest:
            return f"{queue}{suffix}"
    return f"{queue}{BANDS[-1][0]}"


def rq_queue_names(queues: Iterable[str]) -> list[str]:
    """The RQ lists a worker for ``queues`` listens on, in dequeue order."""
    queues = list(queues)
    return [f"{queue}{suffix}" for suffix, _ in BANDS for queue in queues]


def logical_queue(rq_name: str) -> str:
    return rq_name.split(":", 1)[0]


@lru_cache(maxsize=1)
def redis_connection() -> redis.Redis:
    """One client (and pool) per process; short timeouts so a dead Redis fails fast, not at commit time."""
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=10, health_check_interval=30
    )


def eval_script(script: str, keys: list[str], args: list[object]) -> object:
    """Run a Lua script with EVALSHA, loading it only when Redis answers NOSCRIPT (first use, restart,
    flush): redis-py's Script helper would check with an extra round trip in pipelines."""
    sha = _script_sha(script)
    client = redis_connection()
    try:
        return client.evalsha(sha, len(keys), *keys, *args)
    except NoScriptError:
        client.script_load(script)
        return client.evalsha(sha, len(keys), *keys, *args)


@lru_cache(maxsize=None)
def _script_sha(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()


@lru_cache(maxsize=None)
def get_rq_queue(rq_name: str) -> Queue:
    return Queue(rq_name, connection=redis_connection())


@receiver(setting_changed)
def _reset_connection(*, setting: str, **kwargs: object) -> None:
    if setting == "REDIS_URL":
        redis_connection.cache_clear()
        get_rq_queue.cache_clear()
