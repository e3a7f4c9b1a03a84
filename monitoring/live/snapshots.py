"""What a socket or page starts from: a job's public shape with the sequence number it is as fresh as."""
from __future__ import annotations

import logging
from typing import Any

import redis

from jobs.core.shape import job_to_dict, jsonable
from jobs.events.stream import current_seq
from jobs.selectors.jobs import job_get

logger = logging.getLogger(__name__)


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
    return seq, jsonable(job_to_dict(job))
