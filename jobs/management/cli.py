"""Helpers shared by the management commands: who runs them, argument types, tables, progress bars,
following a job.

Nothing here changes state; commands call the services in ``jobs/`` for that
(and ``jobs.engine.audit`` to record it, as ``command_actor``) and use these
only to parse input and format output.
"""
from __future__ import annotations

import argparse
import getpass
import json
import math
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import redis
from django.core.management.base import CommandError
from django.core.serializers.json import DjangoJSONEncoder

from jobs.core.access import Actor, command_actor
from jobs.core.errors import JobTypeError
from jobs.core.shape import job_to_dict, jsonable
from jobs.core.states import FINAL_STATES, JobStatus
from jobs.events import stream
from jobs.models import QueueJob
from jobs.selectors.jobs import MIN_ID_PREFIX, job_get, jobs_named

#: Exit code for input the engine refused (bad JSON, unknown type, payload errors).
EXIT_INVALID = 2
#: Exit code when ``--wait`` gave up before the job finished.
EXIT_WAIT_TIMEOUT = 3


# --- who runs the command -----------------------------------------------------------


def cli_actor(command: str) -> Actor:
    """The audit's "who" for a command: its name and the OS user who ran it (under sudo, sudo's caller).

    Commands are trusted by the access policy (jobs/core/access.py: whoever runs
    them holds the database credentials), so this names them; it grants nothing.
    """
    try:
        os_user = os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        os_user = f"uid {os.getuid()}"
    return command_actor(command, os_user)


# --- argparse types ---------------------------------------------------------------


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def non_negative_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not math.isfinite(number) or number < 0:
        raise argparse.ArgumentTypeError("must be a number of seconds, zero or more")
    return number


def positive_float(value: str) -> float:
    number = non_negative_float(value)
    if number == 0:
        raise argparse.ArgumentTypeError("must be more than zero")
    return number


# --- errors -----------------------------------------------------------------------


def field_errors_text(exc: JobTypeError) -> str:
    """One line per field error, indented, for a CommandError message."""
    lines = [f"  {err.get('field') or '?'}: {err.get('message', '')}" for err in exc.errors]
    return "\n".join(lines) if lines else f"  {exc}"


def invalid_input(summary: str, exc: JobTypeError) -> CommandError:
    return CommandError(f"{summary}:\n{field_errors_text(exc)}", returncode=EXIT_INVALID)


def parse_json_object(text: str, *, field: str = "payload") -> dict[str, Any]:
    """Parse a JSON object given on the command line; JobTypeError names the field otherwise."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JobTypeError(f"{field}: invalid JSON", [
            {"field": field, "message": f"invalid JSON: {exc}", "type": "json_invalid"}
        ]) from None
    if not isinstance(value, dict):
        raise JobTypeError(f"{field}: not an object", [
            {"field": field, "message": f"must be a JSON object, got {type(value).__name__}", "type": "dict_type"}
        ])
    return value


# --- formatting -------------------------------------------------------------------


def to_json(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, indent=2, sort_keys=False)


def format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain left-aligned text table (empty cells for None)."""
    text_rows = [["" if cell is None else str(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in text_rows]
    return "\n".join(lines)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def format_time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def shorten(text: str, width: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def render_progress(percent: int, *, status: str = "", stage: str = "", message: str = "", width: int = 30) -> str:
    """``[#######-------]  42% active · stage · message`` on one line."""
    percent = max(0, min(100, int(percent)))
    filled = round(width * percent / 100)
    parts = [part for part in (status, stage, message) if part]
    return f"[{'#' * filled}{'-' * (width - filled)}] {percent:3d}% " + " · ".join(parts)


def job_progress_line(job: dict[str, Any], *, width: int = 30) -> str:
    """A followed job's line: which attempt it is on, and the progress only while an attempt runs, so a
    retry reads as a new attempt rather than progress going back, and a finished job as finished."""
    status, attempts, most = job["status"], job["attempts"], job["max_attempts"]
    progress = job["progress"]
    if status == JobStatus.ACTIVE:
        return render_progress(progress["percent"], status=f"active · attempt {attempts} of {most}",
                               stage=progress["stage"], message=progress["message"], width=width)
    if status == JobStatus.RETRYING:
        error = shorten(job["error"] or "", 80)
        return render_progress(0, status=f"retrying · attempt {attempts} of {most} failed", stage=error, width=width)
    if status == JobStatus.COMPLETED:
        return render_progress(100, status="completed", width=width)
    if status in FINAL_STATES:
        return render_progress(progress["percent"], status=f"{status} after {attempts} attempt(s)", width=width)
    waiting = f"{status} · attempt {attempts + 1} of {most} next" if attempts else status
    return render_progress(0, status=waiting, width=width)


# --- following a job --------------------------------------------------------------


class WaitTimeout(Exception):
    def __init__(self, job: dict[str, Any]) -> None:
        super().__init__(f"job {job['id']} is still {job['status']}")
        self.job = job


#: While following events, the row is also re-read this often (seconds): events are
#: transport and can be lost, and a few transitions (scheduler promotions) emit none.
ROW_RECHECK = 1.0


def follow_job(
    job_id: uuid.UUID | str,
    *,
    interval: float = 0.1,
    timeout: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    events: bool = True,
) -> Iterator[dict[str, Any]]:
    """Yield the job's public shape (jobs.core.shape, JSON-ready) each time its status or progress
    changes, until it reaches a final state.

    Reads the row once, then follows the job's events on the Redis event
    stream (jobs.events.stream, the same events WebSockets get), each
    carrying the job's public fields; the row is re-read every ROW_RECHECK
    seconds as a safety net. Without Redis (or with ``events=False``) it polls
    the row every ``interval`` seconds instead. Raises WaitTimeout when
    ``timeout`` seconds pass first, LookupError if the row disappears.
    """
    deadline = None if timeout is None else clock() + timeout
    key = str(job_id)
    position: str | None = None
    seq = 0
    if events:
        try:
            # Both before the row is read: whatever happens after the read is in the stream after here.
            position, seq = stream.stream_position(), stream.current_seq(key)
        except redis.RedisError:
            position = None
    job = _read_row(job_id)
    yield job
    checked = clock()
    while job["status"] not in FINAL_STATES:
        left = None if deadline is None else deadline - clock()
        if left is not None and left <= 0:
            raise WaitTimeout(job)
        changed: dict[str, Any] | None = None
        if position is not None:
            try:
                position, entries = stream.read_after(position, block=min(ROW_RECHECK, left or ROW_RECHECK))
            except redis.RedisError:
                position = None  # fall back to polling
                continue
            for entry in entries:
                if entry.job_id == key and entry.seq > seq and not entry.is_log:
                    seq = entry.seq
                    changed = _whole(entry.message()["job"], job_id, job)
                    if _progress_state(changed) != _progress_state(job):
                        job = changed
                        yield job
            if changed is None and clock() - checked >= ROW_RECHECK:
                checked = clock()
                try:
                    before = stream.current_seq(key)  # events up to here are older than the row read next
                except redis.RedisError:
                    before = seq
                row = _read_row(job_id)
                if (row["status"], row["attempts"]) != (job["status"], job["attempts"]):
                    seq = max(seq, before)
                    job = row
                    yield job
        else:
            sleep(interval)
            row = _read_row(job_id)
            if _progress_state(row) != _progress_state(job):
                job = row
                yield job


def find_job(raw: str) -> QueueJob:
    """The job a person named by its id or a unique prefix of it (6+ characters, as the dashboard
    shows ids); LookupError says why not, listing the candidates of an ambiguous prefix."""
    found = jobs_named(raw, limit=6)
    if len(found) == 1:
        return found[0]
    if not found:
        hint = "" if len(raw.replace("-", "")) >= MIN_ID_PREFIX else f" (give at least {MIN_ID_PREFIX} characters)"
        raise LookupError(f"{raw}: no such job{hint}")
    listed = "\n".join(f"  {job.id}  {job.type}  {job.status}" for job in found[:5])
    more = "\n  …" if len(found) > 5 else ""
    raise LookupError(f"{raw}: more than one job starts with it:\n{listed}{more}")


def _whole(event_job: dict[str, Any], job_id: uuid.UUID | str, known: dict[str, Any]) -> dict[str, Any]:
    """An event's job shape with what the event cut to a preview (jobs.core.shape.event_shape) made whole:
    the payload never changes, so the one already read stays; a cut result means reading the row."""
    cut = event_job.pop("truncated", [])
    if "result" in cut:
        return _read_row(job_id)
    return {**event_job, "payload": known["payload"]} if "payload" in cut else event_job


def _read_row(job_id: uuid.UUID | str) -> dict[str, Any]:
    job = job_get(job_id)
    if job is None:
        raise LookupError(f"job {job_id} no longer exists")
    return jsonable(job_to_dict(job))


def _progress_state(job: dict[str, Any]) -> tuple:
    progress = job["progress"]
    return job["status"], progress["percent"], progress["stage"], progress["message"], job["attempts"]
