"""Recurring jobs: cron parsing (croniter), validation, and firing each fire time once.

Firing inserts a ScheduleFiring row for (schedule, fire time) and enqueues the
job in the same transaction; the unique constraint on that pair is what makes
a fire time produce at most one job, however many schedulers run. Times are
computed in the schedule's time zone, so "02:30 daily" stays 02:30 local
across DST changes (a non-existent local time fires at the next valid one).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from jobs.enqueue import job_enqueue
from jobs.errors import JobTypeError
from jobs.models import JobSource, MisfirePolicy, Schedule
from jobs.registry import get_job_type

logger = logging.getLogger(__name__)

#: With the "skip" policy a fire time is still honoured when the scheduler is at most this late.
SKIP_GRACE = timedelta(seconds=60)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError({"timezone": f"unknown time zone {name!r} (use an IANA name such as 'Europe/Paris')"})


def schedule_validate(*, job_type: str, payload: dict, cron: str, timezone_name: str) -> dict:
    """Check a schedule's fields; returns the normalised payload. Raises ValidationError by field."""
    errors: dict[str, str] = {}
    fields = cron.split()
    if len(fields) not in (5, 6) or not croniter.is_valid(cron):
        errors["cron"] = (f"{cron!r} is not a valid cron expression: five fields (minute hour day month weekday), "
                          "or six with seconds last")
    try:
        _zone(timezone_name)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    normalised = payload
    try:
        normalised = get_job_type(job_type).validate(payload).model_dump(mode="json")
    except JobTypeError as exc:
        if exc.errors and exc.errors[0]["field"] == "type":
            errors["job_type"] = exc.errors[0]["message"]
        else:
            errors["payload"] = "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors) or str(exc)
    if errors:
        raise ValidationError(errors)
    return normalised


def next_fire_time(cron: str, timezone_name: str, after: datetime) -> datetime:
    """The first fire time strictly after ``after``, in UTC."""
    local = after.astimezone(_zone(timezone_name))
    return croniter(cron, local).get_next(datetime).astimezone(dt_timezone.utc)


def latest_fire_time(cron: str, timezone_name: str, at: datetime) -> datetime:
    """The last fire time at or before ``at``, in UTC."""
    local = (at + timedelta(seconds=1)).astimezone(_zone(timezone_name))
    return croniter(cron, local).get_prev(datetime).astimezone(dt_timezone.utc)


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
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO jobs_schedulefiring (schedule_id, fire_time, created_at) VALUES (%s, %s, now())"
            " ON CONFLICT (schedule_id, fire_time) DO NOTHING RETURNING id",
            [schedule.pk, fire_time],
        )
        row = cursor.fetchone()
    if row is None:
        return 0  # someone else fired this one
    schedule.last_fired_at = fire_time
    try:
        with transaction.atomic():
            job = job_enqueue(
                type=schedule.job_type,
                payload=schedule.payload,
                source=JobSource.SCHEDULE,
                source_detail=schedule.name,
                correlation_id=f"schedule:{schedule.name}:{fire_time:%Y%m%dT%H%M%S}",
            ).job
    except JobTypeError as exc:
        logger.error("event=schedule_fire_failed schedule=%s error=%s errors=%s", schedule.name, exc, exc.errors)
        return 0
    with connection.cursor() as cursor:
        cursor.execute("UPDATE jobs_schedulefiring SET job_id = %s WHERE id = %s", [job.id, row[0]])
    return 1
