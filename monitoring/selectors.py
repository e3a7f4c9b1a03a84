"""Reads for the monitoring pages and WebSocket consumers (which stay free of queries)."""
from __future__ import annotations

import logging
from typing import Any

import redis

from jobs.events import jsonable
from jobs.models import QueueJob
from jobs.selectors import job_get, job_to_dict
from monitoring.stream import current_seq

logger = logging.getLogger(__name__)

VIEW_PERMISSION = "jobs.view_queuejob"
#: Minutes of throughput each count message carries (the page has the hour; the server's exact
#: numbers replace what the page counted from events for these minutes).
COUNTS_RECENT_MINUTES = 2


def can_watch(user: Any) -> bool:
    """Staff with the view permission may watch jobs and queues."""
    return bool(user and user.is_authenticated and user.is_active and user.is_staff
                and user.has_perm(VIEW_PERMISSION))


def job_public(job: QueueJob) -> dict[str, Any]:
    """The job's public shape, JSON-ready (as in events)."""
    return jsonable(job_to_dict(job))


def job_snapshot(job_id: str) -> tuple[int, dict[str, Any]] | None:
    """(sequence number, public shape) of a job, or None for an unknown or malformed id.

    The sequence number is read before the row: any event numbered after it
    was published after this read began, so a client that applies only
    events with a higher number never goes back in time.
    """
    try:
        seq = current_seq(job_id)
    except redis.RedisError as exc:
        logger.warning("event=snapshot_seq_failed job=%s error=%r", job_id, exc)
        seq = 0
    job = job_get(job_id)
    if job is None:
        return None
    return seq, job_public(job)


def queue_counts() -> list[dict[str, Any]]:
    """What ws/queues/ sends for every queue: counts per state (kept by triggers, jobs.counts: no row
    is counted), pause switch, live workers, oldest pending job and the last minutes of throughput."""
    from monitoring.dashboard.selectors import queue_summaries

    return [summary.live(recent=COUNTS_RECENT_MINUTES) for summary in queue_summaries()]
