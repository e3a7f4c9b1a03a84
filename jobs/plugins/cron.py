"""Firing recurring schedules: each (schedule, fire time) at most once, however many schedulers run.

Firing inserts a ScheduleFiring row for (schedule, fire time) and enqueues the
job in the same transaction; the unique constraint on that pair is what makes
a fire time produce at most one job. The cron maths is jobs.core.cron.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from jobs.core.access import Actor
from jobs.core.cron import latest_fire_time, next_fire_time
from jobs.core.errors import JobTypeError
from jobs.engine.audit import audit_record
from jobs.engine.enqueue import job_enqueue
from jobs.models import JobSource, MisfirePolicy, QueueJob, Schedule

logger = logging.getLogger(__name__)

#: With the "skip" policy a fire time is still honoured when the scheduler is at most this late.
SKIP_GRACE = timedelta(seconds=60)


def schedules_fire_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """Fire every enabled schedule whose next fire time has come; returns jobs created."""
    now = now or timezone.now()
    fired = 0
    with transaction.atomic():
        due = list(
            Schedule.objects.select_for_update(skip_locked=True)
            .filter(enabled=True, next_fire_at__lte=now)
            .order_by("next_fire_at")[:limit]
        )
        for schedule in due:
            fired += _fire(schedule, now)
    return fired


def _fire(schedule: Schedule, now: datetime) -> int:
    fire_time = latest_fire_time(schedule.cron, schedule.timezone, now)
    missed = fire_time > schedule.next_fire_at
    late = now - fire_time
    created = 0
    if schedule.misfire_policy == MisfirePolicy.FIRE_ONCE or late <= SKIP_GRACE:
        created = _fire_once(schedule, fire_time)
        if missed:
            logger.info("event=schedule_misfire schedule=%s policy=%s fired_for=%s",
                        schedule.name, schedule.misfire_policy, fire_time.isoformat())
    else:
        logger.info("event=schedule_skipped schedule=%s missed=%s", schedule.name, fire_time.isoformat())
    schedule.next_fire_at = next_fire_time(schedule.cron, schedule.timezone, max(now, fire_time))
    schedule.save(update_fields=["next_fire_at", "last_fired_at", "updated_at"])
    return created


def _fire_once(schedule: Schedule, fire_time: datetime) -> int:
    schedule.last_fired_at = fire_time
    try:
        job = _enqueue_firing(schedule, fire_time, correlation_id=f"schedule:{schedule.name}:{fire_time:%Y%m%dT%H%M%S}")
    except JobTypeError as exc:
        logger.error("event=schedule_fire_failed schedule=%s error=%s errors=%s", schedule.name, exc, exc.errors)
        return 0
    return 0 if job is None else 1


def _enqueue_firing(schedule: Schedule, fire_time: datetime, *, correlation_id: str,
                    created_by: Any = None) -> QueueJob | None:
    """The job of (schedule, fire time) and its ScheduleFiring row, or None if that time has fired already."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO jobs_schedulefiring (schedule_id, fire_time, created_at) VALUES (%s, %s, now())"
            " ON CONFLICT (schedule_id, fire_time) DO NOTHING RETURNING id",
            [schedule.pk, fire_time],
        )
        row = cursor.fetchone()
    if row is None:
        return None  # someone else fired this one
    with transaction.atomic():
        job = job_enqueue(type=schedule.job_type, payload=schedule.payload, source=JobSource.SCHEDULE,
                          source_detail=schedule.name, correlation_id=correlation_id, created_by=created_by).job
    with connection.cursor() as cursor:
        cursor.execute("UPDATE jobs_schedulefiring SET job_id = %s WHERE id = %s", [job.id, row[0]])
    return job


def schedule_run_now(schedule: Schedule, *, actor: Actor) -> QueueJob:
    """Fire ``schedule`` once, now, for a person ("run now", as Sidekiq's and Oban's cron pages offer): a
    job like its timetable's (so the schedule's list of fired jobs shows it), recorded in the audit; its
    next fire time is untouched. The caller checks ``may_enqueue`` first; JobTypeError if the schedule's
    payload no longer fits its type."""
    now = timezone.now()
    with transaction.atomic():
        job = _enqueue_firing(schedule, now, correlation_id=f"schedule:{schedule.name}:now:{now:%Y%m%dT%H%M%S%f}",
                              created_by=actor.user if getattr(actor.user, "is_authenticated", False) else None)
        if job is None:  # the timetable fired this very microsecond
            raise JobTypeError("the schedule fired at this moment already; try again")
        audit_record(actor=actor, action="run_schedule", count=1, object_id=job.id, detail=f"schedule {schedule.name}")
    return job
