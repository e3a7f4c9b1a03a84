"""Reads for the dashboard pages. Each page's queries are index lookups or reads of the kept counts
(jobs.counts), so a page answers in milliseconds whether the job table holds a thousand rows or millions."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Max
from django.utils import timezone

from jobs.conf import get_config
from jobs.counts import Minute, throughput
from jobs.dispatch import logical_queue
from jobs.models import JobAttempt, QueueJob
from jobs.selectors import QueueStats, queue_stats, worker_list
from jobs.states import JobStatus

STATES = list(JobStatus.values)


@dataclass
class QueueSummary(QueueStats):
    throughput: list[Minute] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def completed_last_hour(self) -> int:
        return sum(m.completed for m in self.throughput)

    @property
    def failed_last_hour(self) -> int:
        return sum(m.failed for m in self.throughput)

    def live(self, *, recent: int | None = None) -> dict[str, Any]:
        """What the page's script starts from, or (``recent`` minutes of throughput) what ws/queues/ sends."""
        minutes = [[m.at.isoformat(), m.completed, m.failed] for m in self.throughput]
        return {
            "name": self.name,
            "counts": self.counts,
            "paused": self.paused,
            "workers": self.workers,
            "oldest_pending_at": self.oldest_pending_at.isoformat() if self.oldest_pending_at else None,
            **({"throughput": minutes} if recent is None else {"throughput_recent": minutes[-recent:]}),
        }


def queue_summaries(*, with_throughput: bool = True) -> list[QueueSummary]:
    """Every queue: counts per state, pause switch, workers, oldest pending job, throughput."""
    queues = queue_stats()
    rates = throughput() if with_throughput else {}
    return [QueueSummary(**vars(stats), throughput=rates.get(stats.name, [])) for stats in queues]


def queue_summary(name: str) -> QueueSummary | None:
    for summary in queue_summaries():
        if summary.name == name:
            return summary
    return None


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


def worker_rows() -> tuple[list[WorkerRow], bool]:
    """RQ's worker registry, with each worker's running job from the open attempts; (rows, redis reachable)."""
    workers = worker_list()
    if workers is None:
        return [], False
    stale_after = timedelta(seconds=get_config().lease_seconds)
    now = timezone.now()
    running = {
        a["worker"]: a
        for a in JobAttempt.objects.filter(finished_at__isnull=True, worker__in=[w.name for w in workers])
        .values("worker", "job_id", "job__type", "started_at")
    }
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
        ))
    rows.sort(key=lambda r: (r.stale, r.name))
    return rows, True
