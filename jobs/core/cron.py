"""Cron maths and schedule validation (croniter), in the schedule's own time zone.

Times are computed in the schedule's time zone, so "02:30 daily" stays 02:30
local across DST changes (a non-existent local time fires at the next valid
one). Used by the Schedule model (clean, next fire time) and by the cron
plugin (jobs.plugins.cron) that fires them.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from django.core.exceptions import ValidationError

from jobs.core.errors import JobTypeError
from jobs.core.registry import get_job_type


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
