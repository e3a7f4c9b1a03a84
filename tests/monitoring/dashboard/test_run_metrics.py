"""The metrics page's reads (monitoring/dashboard/run_metrics.py) against rows whose numbers are worked out by hand.

percentile_cont interpolates: for n sorted values v, the p-th is at position (n - 1) * p, between the values on
either side. Nine durations 0.25, 0.5, 1, 1, 2, 2, 3, 4, 5: p50 at 4 is 2; p95 at 7.6 is 4 + 0.6 = 4.6; p99 at
7.92 is 4.92.
"""
from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from jobs.models import JobAttempt, QueueJob
from monitoring.dashboard import run_metrics as rm
from monitoring.dashboard.run_metrics import (
    WINDOWS,
    RunStats,
    run_metrics,
    window_bounds,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2030, 1, 1, 12, 30, 30, tzinfo=UTC)
HOUR = WINDOWS["1h"]


def at(hh: int, mm: int, ss: float = 0) -> datetime:
    return datetime(2030, 1, 1, hh, mm, tzinfo=UTC) + timedelta(seconds=ss)


def job(*, status: str, created: datetime, runs: list[tuple[str, datetime, float]], queue: str = "default",
        type: str = "demo.noop", run_at: datetime | None = None) -> QueueJob:
    """A job whose attempts (outcome, started, seconds) ran as given; outcome "" is a run still open."""
    row = QueueJob.objects.create(type=type, queue=queue, status=status, timeout=60, attempts=len(runs), run_at=run_at)
    QueueJob.objects.filter(pk=row.pk).update(created_at=created)  # auto_now_add would set it to now
    for number, (outcome, started, seconds) in enumerate(runs, 1):
        JobAttempt.objects.create(job=row, number=number, started_at=started, outcome=outcome,
                                  finished_at=started + timedelta(seconds=seconds) if outcome else None,
                                  duration=seconds if outcome else None)
    return row


@pytest.fixture
def history() -> None:
    # completed at once: waits 2 s and 10 s from creation (no run_at)
    job(status="completed", created=at(12, 0), runs=[("completed", at(12, 0, 2), 1.0)])
    job(status="completed", created=at(12, 0), runs=[("completed", at(12, 0, 10), 3.0)])
    # failed twice, the second time for good: one retried run, one failed; the last run waited 1 s from its retry's due time
    job(status="failed", type="demo.fail", created=at(12, 9), run_at=at(12, 10, 4),
        runs=[("error", at(12, 10), 2.0), ("error", at(12, 10, 5), 4.0)])
    # timed out, then completed on another queue: one retried, one completed, waited 1 s
    job(status="completed", type="demo.flaky", queue="email", created=at(12, 19), run_at=at(12, 20, 6),
        runs=[("timeout", at(12, 20), 5.0), ("completed", at(12, 20, 7), 0.5)])
    # failed, then requeued by a person (run_at cleared) and completed: its due time is unknown, so no wait
    job(status="completed", created=at(12, 24), runs=[("error", at(12, 25), 1.0), ("completed", at(12, 28), 2.0)])
    # started a little before it was created, by another process's clock: a wait of 0, not below
    job(status="completed", created=at(12, 29), runs=[("completed", at(12, 28, 59.5), 0.25)])
    # not runs of this window: started before it, cancelled, interrupted, still running
    job(status="completed", created=at(11, 30), runs=[("completed", at(11, 30, 59), 1.0)])
    job(status="cancelled", created=at(12, 1), runs=[("cancelled", at(12, 1), 9.0)])
    job(status="active", created=at(12, 2), runs=[("interrupted", at(12, 2), 9.0), ("", at(12, 3), 0)])


def close(quantiles: tuple, expected: tuple) -> bool:
    return all(math.isclose(a, b, abs_tol=1e-9) for a, b in zip(quantiles, expected, strict=True))


def test_window_buckets_are_whole_steps_and_the_last_holds_now() -> None:
    assert window_bounds(HOUR, NOW) == (at(11, 31), at(12, 31))
    start, end = window_bounds(WINDOWS["24h"], NOW)
    assert (start, end) == (at(12, 45) - timedelta(days=1), at(12, 45))
    assert WINDOWS["7d"].buckets == 168 and WINDOWS["24h"].buckets == 96 and HOUR.buckets == 60


def test_counts_failure_rate_and_percentiles_match_a_hand_computation(history: None) -> None:
    metrics = run_metrics(window=HOUR, now=NOW)
    total = metrics.total
    assert (total.completed, total.retried, total.failed) == (5, 3, 1)
    assert math.isclose(total.failure_rate, 4 / 9)
    assert close(total.duration, (2.0, 4.6, 4.92))
    # waits 0, 1, 1, 2, 10: p50 at 2 is 1; p95 at 3.8 is 2 + 0.8 * 8 = 8.4; p99 at 3.96 is 2 + 0.96 * 8 = 9.68
    assert close(total.wait, (1.0, 8.4, 9.68))
    assert metrics.sample == 1 and not metrics.empty


def test_runs_fall_in_the_bucket_they_finished_in(history: None) -> None:
    metrics = run_metrics(window=HOUR, now=NOW)
    assert len(metrics.buckets) == 60 and metrics.buckets[0][0] == at(11, 31) and metrics.buckets[-1][0] == at(12, 30)
    buckets = {start: stats for start, stats in metrics.buckets if stats.runs}
    assert sorted(buckets) == [at(12, 0), at(12, 10), at(12, 20), at(12, 25), at(12, 28)]
    noon = buckets[at(12, 0)]  # the first two jobs: durations 1 and 3, waits 2 and 10
    assert (noon.completed, noon.retried, noon.failed) == (2, 0, 0)
    assert close(noon.duration, (2.0, 2.9, 2.98)) and close(noon.wait, (6.0, 9.6, 9.92))
    ten = buckets[at(12, 10)]  # the retried run (no wait of its own) and the failed one (1 s)
    assert (ten.retried, ten.failed) == (1, 1) and close(ten.wait, (1.0, 1.0, 1.0))
    assert buckets[at(12, 28)].completed == 2  # the requeued job's run (no wait) and the one that started early
    assert close(buckets[at(12, 28)].wait, (0.0, 0.0, 0.0))
    series = metrics.series()
    assert series[29] == [at(12, 0).isoformat(), 2, 0, 0, list(noon.duration), list(noon.wait)]
    assert series[0][1:] == [0, 0, 0, [None, None, None], [None, None, None]]


def test_per_queue_and_per_type_and_filters(history: None) -> None:
    metrics = run_metrics(window=HOUR, now=NOW)
    by_type = dict(metrics.by_type)
    assert [name for name, _ in metrics.by_type] == ["demo.noop", "demo.fail", "demo.flaky"]  # most runs first
    noop = by_type["demo.noop"]  # durations 0.25, 1, 1, 2, 3 (the requeued job's two runs among them)
    assert (noop.completed, noop.retried, noop.failed) == (4, 1, 0) and close(noop.duration, (1.0, 2.8, 2.96))
    assert (by_type["demo.fail"].retried, by_type["demo.fail"].failed) == (1, 1)
    assert dict(metrics.by_queue)["email"] == by_type["demo.flaky"]
    assert dict(metrics.by_queue)["default"].runs == 7

    email = run_metrics(window=HOUR, queue="email", now=NOW)
    assert (email.total.completed, email.total.retried, email.total.failed) == (1, 1, 0)
    assert close(email.total.duration, (2.75, 4.775, 4.955)) and close(email.total.wait, (1.0, 1.0, 1.0))
    assert [name for name, _ in email.by_queue] == ["email"] and [name for name, _ in email.by_type] == ["demo.flaky"]
    failing = run_metrics(window=HOUR, job_type="demo.fail", now=NOW)
    assert (failing.total.runs, failing.total.failure_rate) == (2, 1.0)
    assert run_metrics(window=HOUR, queue="email", job_type="demo.fail", now=NOW).empty


def test_an_empty_window_has_empty_buckets_and_no_rates() -> None:
    job(status="completed", created=at(9, 0), runs=[("completed", at(9, 0, 1), 1.0)])  # before the window
    metrics = run_metrics(window=HOUR, now=NOW)
    assert metrics.empty and metrics.total == RunStats() and metrics.by_type == [] and metrics.by_queue == []
    assert metrics.total.failure_rate is None and metrics.total.duration == (None, None, None)
    assert all(stats == RunStats() for _, stats in metrics.buckets) and len(metrics.buckets) == 60
    assert not run_metrics(window=WINDOWS["24h"], now=NOW).empty  # the day holds it


def test_past_max_runs_one_run_in_k_is_read_and_the_counts_scaled(history: None,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rm, "MAX_RUNS", 4)
    start, _ = window_bounds(HOUR, NOW)
    runs = JobAttempt.objects.filter(outcome__in=rm.RUN_OUTCOMES, started_at__gte=start)
    assert runs.count() == 9  # so k = ceil(9 / 4) = 3
    read = [a for a in runs if a.id % 3 == 0]
    metrics = run_metrics(window=HOUR, now=NOW)
    assert metrics.sample == 3
    assert metrics.total.completed == 3 * sum(a.outcome == "completed" for a in read)
    assert metrics.total.runs == 3 * len(read)
    durations = sorted(a.duration for a in read)
    if durations:  # the median of what was read (ids depend on the sequence, so work it out from them)
        middle = (len(durations) - 1) * 0.5
        low = durations[math.floor(middle)]
        expected = low + (durations[math.ceil(middle)] - low) * (middle - math.floor(middle))
        assert math.isclose(metrics.total.duration[0], expected)
