"""The metrics page's reads: runs finished per time bucket, queue and job type, with their failure rate and the
p50/p95/p99 of their duration and wait, computed by PostgreSQL in one statement.

A run is a JobAttempt that ended ``completed``, ``error``, ``timeout`` or ``lost`` (cancelled and interrupted
runs are neither a success nor a failure, and are left out). Failed runs are counted apart as the overview
counts them: ``failed`` when the run ended its job in the dead-letter queue, ``retried`` otherwise, so a job that
fails twice and then completes is two retried runs and one completed one.

Cost: the window bounds what is read. Runs are found through the index ``attempt_outcome_started`` (outcome,
started_at), so a run counts in the window it started in; each is joined to its job by primary key. Past
``MAX_RUNS`` runs in the window, one run in k (by attempt id, the same runs at each refresh) is read and the
counts are scaled by k: the join, the sorts and the percentiles never handle more than about ``MAX_RUNS`` rows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from jobs.core.states import AttemptOutcome


@dataclass(frozen=True)
class Window:
    key: str
    label: str
    seconds: int
    #: Width of one bucket of the charts, in seconds: 60, 96 or 168 buckets a window.
    step: int
    #: Live updates fetch the page's numbers again at most this often (seconds): a week is costlier to read.
    refresh: int
    #: One bucket, in words ("runs finished per …").
    per: str

    @property
    def buckets(self) -> int:
        return self.seconds // self.step


WINDOWS: dict[str, Window] = {w.key: w for w in (
    Window("1h", "last hour", 3600, 60, 2, "minute"),
    Window("24h", "last 24 hours", 86400, 900, 10, "15 minutes"),
    Window("7d", "last 7 days", 7 * 86400, 3600, 30, "hour"),
)}

#: Runs one view aggregates at most; beyond it, a sample of one run in k.
MAX_RUNS = 50_000
#: Memory for the statement's sorts (at most MAX_RUNS rows), so they stay off disk.
WORK_MEM = "32MB"
#: The outcomes that make a run: it completed, or it failed.
RUN_OUTCOMES = [AttemptOutcome.COMPLETED.value, AttemptOutcome.ERROR.value, AttemptOutcome.TIMEOUT.value,
                AttemptOutcome.LOST.value]
PERCENTILES = (0.5, 0.95, 0.99)

Quantiles = tuple[float | None, float | None, float | None]
_NONE: Quantiles = (None, None, None)


@dataclass(frozen=True)
class RunStats:
    completed: int = 0
    #: Failed runs whose job went round again.
    retried: int = 0
    #: Failed runs that ended their job failed (the dead-letter queue).
    failed: int = 0
    #: p50, p95, p99 of the runs' time in the handler, seconds.
    duration: Quantiles = _NONE
    #: p50, p95, p99 of due → start, seconds (see ``_RUNS_SQL`` for which runs have one).
    wait: Quantiles = _NONE

    @property
    def runs(self) -> int:
        return self.completed + self.retried + self.failed

    @property
    def failure_rate(self) -> float | None:
        """Failed runs (retried or not) over all runs; None when nothing ran."""
        return (self.retried + self.failed) / self.runs if self.runs else None

    def public(self) -> dict[str, object]:
        return {"completed": self.completed, "retried": self.retried, "failed": self.failed,
                "failure_rate": self.failure_rate, "duration": list(self.duration), "wait": list(self.wait)}


@dataclass(frozen=True)
class RunMetrics:
    window: Window
    #: The first bucket's start and the last bucket's end (the last bucket holds now).
    start: datetime
    end: datetime
    #: One (bucket start, stats) per bucket, oldest first, empty buckets included.
    buckets: list[tuple[datetime, RunStats]]
    total: RunStats
    #: Per queue and per job type, most runs first.
    by_queue: list[tuple[str, RunStats]]
    by_type: list[tuple[str, RunStats]]
    #: 1: every run was read; k: one run in k was, and the counts are k times what was read.
    sample: int = 1

    @property
    def empty(self) -> bool:
        return self.total.runs == 0

    def series(self) -> list[list[object]]:
        """The buckets as the page's charts draw them: [start, completed, failed, retried, duration, wait]
        (the overview's order of the first four)."""
        return [[at.isoformat(), s.completed, s.failed, s.retried, list(s.duration), list(s.wait)]
                for at, s in self.buckets]


# One row per run, then one aggregate per grouping set. ``wait`` is started_at − (run_at or created_at), as
# the job row keeps them, so only where that is the run's own due time: the run that ended its job (a later
# run, or a retry's backoff, moves run_at on), and, past the first run, only when run_at was set (a retry's
# due time); a requeue or a worker shutdown clears or keeps no due time of its own. Clocks of different
# processes may disagree by a little: a wait is never below 0.
_RUNS_SQL = """
SELECT grouping(r.bucket, r.queue, r.type), r.bucket, r.queue, r.type,
       count(*) FILTER (WHERE r.kind = 'completed'), count(*) FILTER (WHERE r.kind = 'retried'),
       count(*) FILTER (WHERE r.kind = 'failed'),
       percentile_cont(%(fractions)s::float8[]) WITHIN GROUP (ORDER BY r.duration),
       percentile_cont(%(fractions)s::float8[]) WITHIN GROUP (ORDER BY r.wait)
  FROM (SELECT j.queue, j.type, date_bin(%(step)s, a.finished_at, %(start)s) AS bucket, a.duration,
               CASE WHEN a.outcome = 'completed' THEN 'completed'
                    WHEN a.number = j.attempts AND j.status = 'failed' THEN 'failed'
                    ELSE 'retried' END AS kind,
               CASE WHEN a.number = j.attempts AND j.status IN ('completed', 'failed')
                         AND (j.run_at IS NOT NULL OR a.number = 1)
                    THEN greatest(extract(epoch FROM a.started_at - coalesce(j.run_at, j.created_at)), 0)
               END AS wait
          FROM jobs_jobattempt a JOIN jobs_queuejob j ON j.id = a.job_id
         WHERE {where}) r
 GROUP BY GROUPING SETS ((r.bucket), (r.queue), (r.type), ())
"""
_IN_WINDOW = "a.outcome = ANY(%(outcomes)s) AND a.started_at >= %(start)s"
#: grouping(bucket, queue, type) of each set: a bit for each column the set leaves out.
_BY_BUCKET, _BY_QUEUE, _BY_TYPE, _TOTAL = 0b011, 0b101, 0b110, 0b111


def window_bounds(window: Window, now: datetime) -> tuple[datetime, datetime]:
    """The first bucket's start and the last one's end: buckets on whole steps (UTC), the last one holding now."""
    epoch = now.timestamp()
    end = datetime.fromtimestamp(epoch - epoch % window.step + window.step, tz=UTC)
    return end - timedelta(seconds=window.seconds), end


def runs_in_window(start: datetime) -> int:
    """Runs started since ``start`` (of every queue): the index range alone, to size the sample."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM jobs_jobattempt a WHERE {_IN_WINDOW}",
                       {"outcomes": RUN_OUTCOMES, "start": start})
        return cursor.fetchone()[0]


def _stats(row: tuple, scale: int) -> RunStats:
    completed, retried, failed, duration, wait = row[4:]
    return RunStats(completed * scale, retried * scale, failed * scale,
                    tuple(duration) if duration else _NONE, tuple(wait) if wait else _NONE)  # type: ignore[arg-type]


def run_metrics(*, window: Window, queue: str | None = None, job_type: str | None = None,
                now: datetime | None = None) -> RunMetrics:
    """Runs that finished in ``window`` (of one queue and job type, when given), per bucket, queue and type."""
    start, end = window_bounds(window, now or timezone.now())
    sample = max(1, math.ceil(runs_in_window(start) / MAX_RUNS))
    where = [_IN_WINDOW, "a.finished_at < %(end)s"]
    if sample > 1:
        where.append("a.id %% %(sample)s = 0")
    if queue is not None:
        where.append("j.queue = %(queue)s")
    if job_type is not None:
        where.append("j.type = %(type)s")
    sql = _RUNS_SQL.format(where=" AND ".join(where))
    params = {"fractions": list(PERCENTILES), "step": timedelta(seconds=window.step), "start": start, "end": end,
              "outcomes": RUN_OUTCOMES, "sample": sample, "queue": queue, "type": job_type}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('work_mem', %s, true)", [WORK_MEM])
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    found: dict[datetime, RunStats] = {}
    by_queue: list[tuple[str, RunStats]] = []
    by_type: list[tuple[str, RunStats]] = []
    total = RunStats()
    for row in rows:
        grouping, stats = row[0], _stats(row, sample)
        if grouping == _BY_BUCKET:
            found[row[1]] = stats
        elif grouping == _BY_QUEUE:
            by_queue.append((row[2], stats))
        elif grouping == _BY_TYPE:
            by_type.append((row[3], stats))
        elif grouping == _TOTAL:
            total = stats
    slots = [start + timedelta(seconds=i * window.step) for i in range(window.buckets)]
    return RunMetrics(
        window=window, start=start, end=end, total=total, sample=sample,
        buckets=[(slot, found.get(slot, RunStats())) for slot in slots],
        by_queue=sorted(by_queue, key=lambda item: (-item[1].runs, item[0])),
        by_type=sorted(by_type, key=lambda item: (-item[1].runs, item[0])),
    )
