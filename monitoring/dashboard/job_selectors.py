"""The job page: the job, its attempts, and a lifecycle timeline built from the rows that record it."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.admin.models import LogEntry

from jobs.models import JobAttempt, QueueJob
from jobs.selectors import job_get
from jobs.states import FINAL_STATES, JobStatus
from monitoring.dashboard.audit import job_history

OUTCOME_KIND = {"completed": "ok", "error": "bad", "timeout": "bad", "lost": "bad", "cancelled": "warn",
                "interrupted": "warn", "": "live"}


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    label: str
    detail: str = ""
    kind: str = "info"  # info, ok, bad, warn, live: the dot's colour


@dataclass
class JobDetail:
    job: QueueJob
    attempts: list[JobAttempt]
    timeline: list[TimelineEntry]
    history: list[LogEntry]

    @property
    def payload_json(self) -> str:
        return json.dumps(self.job.payload, indent=2, ensure_ascii=False, sort_keys=False)

    @property
    def result_json(self) -> str:
        return "" if self.job.result is None else json.dumps(self.job.result, indent=2, ensure_ascii=False)


def _by_whom(job: QueueJob) -> str:
    who = f"by {job.get_source_display().lower()}"
    if job.created_by_id:
        who += f" by {job.created_by}"
    if job.source_detail:
        who += f" ({job.source_detail})"
    return who


def job_timeline(job: QueueJob, attempts: list[JobAttempt], history: list[LogEntry]) -> list[TimelineEntry]:
    entries = [TimelineEntry(job.created_at, "created", f"{_by_whom(job)}, on queue {job.queue}, priority {job.priority}")]
    if job.status == JobStatus.SCHEDULED and job.run_at:
        entries.append(TimelineEntry(job.run_at, "scheduled to run", "", "info"))
    for attempt in attempts:
        entries.append(TimelineEntry(attempt.started_at, f"attempt {attempt.number} started",
                                     f"on {attempt.worker or '?'} (pid {attempt.pid or '?'})", "live"))
        if attempt.finished_at:
            detail = f"{attempt.duration:.2f} s" if attempt.duration is not None else ""
            if attempt.error_type:
                detail += f" — {attempt.error_type}: {attempt.error_message[:200]}"
            entries.append(TimelineEntry(attempt.finished_at, f"attempt {attempt.number} {attempt.outcome}",
                                         detail, OUTCOME_KIND.get(attempt.outcome, "info")))
    if job.status == JobStatus.RETRYING and job.run_at:
        entries.append(TimelineEntry(job.run_at, "next attempt due", "after backoff", "warn"))
    if job.status in FINAL_STATES and job.finished_at:
        kind = {"completed": "ok", "failed": "bad", "cancelled": "warn"}[job.status]
        entries.append(TimelineEntry(job.finished_at, job.status, job.error if job.status != "completed" else "",
                                     kind))
    for entry in history:
        entries.append(TimelineEntry(entry.action_time, f"{entry.user}: {entry.get_change_message()}", "", "info"))
    return sorted(entries, key=lambda e: e.at)


def job_detail(job_id: str) -> JobDetail | None:
    job = job_get(job_id)
    if job is None:
        return None
    attempts = list(job.attempt_set.order_by("number"))
    history = job_history(job.id)
    return JobDetail(job=job, attempts=attempts, timeline=job_timeline(job, attempts, history), history=history)


def job_summary(job: Any) -> str:
    """One line about the payload, for list rows: the first few key=value pairs."""
    payload = job.payload if isinstance(job.payload, dict) else {}
    parts = []
    for key, value in payload.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}={text}")
        if sum(len(p) for p in parts) > 120:
            break
    line = " ".join(parts)
    return line[:140] + ("…" if len(line) > 140 else "")
