"""Reads for the dashboard pages. Each page's queries are index lookups or reads of the kept counts
(jobs.selectors.counts), so a page answers in milliseconds whether the job table holds a thousand rows or millions."""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Max
from django.utils import timezone

from jobs.core.config import get_config
from jobs.core.states import FINAL_STATES, JobStatus
from jobs.core.transport import logical_queue
from jobs.models import AuditEntry, JobAttempt, QueueJob
from jobs.selectors.jobs import job_get
from jobs.selectors.logs import job_logs
from jobs.selectors.queues import worker_list
from monitoring.dashboard.audit import job_history

STATES = list(JobStatus.values)


# --- dead letters --------------------------------------------------------------------


@dataclass
class ErrorGroup:
    type: str
    signature: str
    count: int
    last_failed_at: datetime | None
    example_id: Any = None
    example_error: str = ""
    queue: str = ""


def dead_letter_groups(*, job_type: str | None = None, limit: int = 200) -> list[ErrorGroup]:
    """Failed jobs grouped by type and error signature, largest group first.

    Counted from the partial index ``job_failed_signature`` alone (an
    index-only scan), then one probe per group for an example.
    """
    failed = QueueJob.objects.filter(status=JobStatus.FAILED)
    if job_type:
        failed = failed.filter(type=job_type)
    rows = (failed.values("type", "error_signature").annotate(n=Count("*"), last=Max("finished_at"))
            .order_by("-n", "type", "error_signature")[:limit])
    groups = [ErrorGroup(r["type"], r["error_signature"] or "", r["n"], r["last"]) for r in rows]
    if groups:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT g.type, g.sig, j.id, j.error, j.queue FROM unnest(%s::text[], %s::text[]) AS g(type, sig)"
                " CROSS JOIN LATERAL (SELECT id, error, queue FROM jobs_queuejob WHERE status = 'failed'"
                " AND type = g.type AND error_signature = g.sig LIMIT 1) j",
                [[g.type for g in groups], [g.signature for g in groups]],
            )
            examples = {(t, s): (i, e, q) for t, s, i, e, q in cursor.fetchall()}
        for group in groups:
            group.example_id, group.example_error, group.queue = examples.get(
                (group.type, group.signature), (None, "", ""))
    return groups


# --- workers -------------------------------------------------------------------------


@dataclass
class WorkerRow:
    name: str
    hostname: str
    pid: int | None
    queues: list[str]
    state: str
    last_heartbeat: datetime | None
    birth: datetime | None
    done: int
    failed: int
    stale: bool
    current_job_id: Any = None
    current_job_type: str = ""
    current_since: datetime | None = None
    #: Runs in flight in the worker's slots (the one shown is the longest-running).
    running: int = 0


def worker_rows() -> tuple[list[WorkerRow], bool]:
    """RQ's worker registry, with each worker's running job from the open attempts; (rows, redis reachable)."""
    workers = worker_list()
    if workers is None:
        return [], False
    stale_after = timedelta(seconds=get_config().lease_seconds)
    now = timezone.now()
    running: dict[str, dict[str, Any]] = {}  # per worker, its longest-running open attempt
    in_flight: dict[str, int] = {}
    for a in (JobAttempt.objects.filter(finished_at__isnull=True, worker__in=[w.name for w in workers])
              .values("worker", "job_id", "job__type", "started_at").order_by("-started_at")):
        running[a["worker"]] = a
        in_flight[a["worker"]] = in_flight.get(a["worker"], 0) + 1
    rows = []
    for worker in workers:
        beat = worker.last_heartbeat
        if beat is not None and timezone.is_naive(beat):
            beat = beat.replace(tzinfo=UTC)
        birth = worker.birth_date
        if birth is not None and timezone.is_naive(birth):
            birth = birth.replace(tzinfo=UTC)
        attempt = running.get(worker.name)
        failed = worker.failed_job_count or 0
        rows.append(WorkerRow(
            name=worker.name,
            hostname=worker.hostname or "",
            pid=worker.pid,
            queues=list(dict.fromkeys(logical_queue(q) for q in worker.queue_names())),
            state=worker.get_state() if hasattr(worker, "get_state") else worker.state,
            last_heartbeat=beat,
            birth=birth,
            done=max((worker.successful_job_count or 0) - failed, 0),
            failed=failed,
            stale=beat is None or now - beat > stale_after,
            current_job_id=attempt["job_id"] if attempt else None,
            current_job_type=attempt["job__type"] if attempt else "",
            current_since=attempt["started_at"] if attempt else None,
            running=in_flight.get(worker.name, 0),
        ))
    rows.sort(key=lambda r: (r.stale, r.name))
    return rows, True


# --- the job page ----------------------------------------------------------------------

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
    #: Oldest first, each with its log lines in ``lines`` (jobs.selectors.logs).
    attempts: list[JobAttempt]
    timeline: list[TimelineEntry]
    history: list[AuditEntry]

    @property
    def origin(self) -> str:
        return job_origin(self.job)


#: Where a job came from, as the job page says it ("from the dashboard by ada").
SOURCE_PHRASES = {"api": "through the API", "admin": "from the dashboard", "command": "by a command",
                  "schedule": "by a schedule", "python": "from Python code", "webhook": "for a webhook"}


def job_origin(job: QueueJob) -> str:
    """Who added the job and through what, said once ("from the dashboard by admin", "through the API by
    ci (token ci)", "by a schedule (nightly)")."""
    origin = SOURCE_PHRASES.get(job.source, job.source)
    if job.created_by_id:
        origin += f" by {job.created_by}"
    detail = job.source_detail
    if job.source == "api" and detail:
        detail = "a session" if detail == "session" else f"token {detail}"
    if detail and detail != "dashboard":
        origin += f" ({detail})"
    return origin


def job_timeline(job: QueueJob, attempts: list[JobAttempt],
                 history: list[AuditEntry]) -> list[TimelineEntry]:
    """The job's lifecycle in the order it happened. The job's own steps are listed in causal order
    (created, each attempt's start and end, then what comes next or how it ended), not by their
    timestamps: those come from different processes' clocks, and a timeout's attempt row may be written
    after the job's. People's actions (the audit) are merged in by time."""
    steps = [TimelineEntry(job.created_at, "created", f"{job_origin(job)}, on queue {job.queue}, priority {job.priority}")]
    if job.status == JobStatus.SCHEDULED and job.run_at:
        steps.append(TimelineEntry(job.run_at, "scheduled to run", "", "info"))
    for attempt in attempts:
        steps.append(TimelineEntry(attempt.started_at, f"attempt {attempt.number} started",
                                   f"on {attempt.worker or '?'} (pid {attempt.pid or '?'})", "live"))
        if attempt.finished_at:
            detail = f"{attempt.duration:.2f} s" if attempt.duration is not None else ""
            if attempt.error_type:
                detail += f" — {attempt.error_type}: {attempt.error_message[:200]}"
            steps.append(TimelineEntry(attempt.finished_at, f"attempt {attempt.number} {attempt.outcome}",
                                       detail, OUTCOME_KIND.get(attempt.outcome, "info")))
    if job.status == JobStatus.RETRYING and job.run_at:
        steps.append(TimelineEntry(job.run_at, "next attempt due", "after backoff", "warn"))
    if job.status in FINAL_STATES and job.finished_at:
        kind = {"completed": "ok", "failed": "bad", "cancelled": "warn"}[job.status]
        at = max([job.finished_at, *(a.finished_at for a in attempts if a.finished_at)])
        steps.append(TimelineEntry(at, job.status, job.error if job.status != "completed" else "", kind))
    actions = []
    for entry in history:
        via = entry.credential if entry.via != "session" else entry.interface
        actions.append(TimelineEntry(entry.at, f"{entry.actor}: {entry.message}", f"via {entry.via} {via}".strip(),
                                     "info"))
    return list(heapq.merge(steps, sorted(actions, key=lambda e: e.at), key=lambda e: e.at))


def job_detail(job_id: str) -> JobDetail | None:
    job = job_get(job_id)
    if job is None:
        return None
    attempts = job_logs(job)  # each with its log lines in ``lines``
    history = job_history(job.id)
    return JobDetail(job=job, attempts=attempts, timeline=job_timeline(job, attempts, history), history=history)
