"""Dashboard phase: page times of /admin/queues with a million jobs in the table.

``generate_jobs`` fills the bench database (1,000,000 jobs with their attempts;
100,000 with --quick), then each page is requested through Django's full
request stack in this process (``django.test.Client``: middleware, session
login, view, template), as a logged-in superuser. Server time only: no
network, no browser. Each page is fetched WARM times first, then timed RUNS
times; the table shows the median and p95 against the 300 ms budget.
"""
from __future__ import annotations

import statistics
import time
from typing import Any

BUDGET_MS = 300.0
WARM, RUNS = 3, 15


def _pages(count: int) -> list[tuple[str, str]]:
    from jobs.models import QueueJob
    from jobs.selectors.filters import JobFilter
    from jobs.selectors.paging import encode, keyset_page

    job = QueueJob.objects.filter(queue="email", status="failed").order_by("-created_at").only("id").first()
    cursor = keyset_page(JobFilter(queue="email").queryset(), limit=50).next_cursor
    depth = count // 10
    deep = JobFilter(queue="email").queryset().order_by("-created_at", "-id")[depth:depth + 1].first()
    payload_word = (job.payload.get("to") or ["user4242@example.com"])[0] if job else "user4242@example.com"
    return [
        ("overview", "/admin/queues/"),
        ("queue page (email, all states)", "/admin/queues/queue/email/"),
        ("queue page, failed, by finish time", "/admin/queues/queue/email/?state=failed"),
        ("queue page, next page (keyset)", f"/admin/queues/queue/email/?after={cursor}"),
        (f"queue page, {depth:,} rows deep (keyset)",
         f"/admin/queues/queue/email/?after={encode('-created', deep) if deep else ''}"),
        ("queue page, failed of one type, last 7 days",
         "/admin/queues/queue/email/?state=failed&type=email.send&since=7d"),
        ("search by id", f"/admin/queues/queue/email/?q={job.id if job else ''}"),
        ("search by id prefix (8 chars)", f"/admin/queues/queue/email/?q={str(job.id)[:8] if job else ''}"),
        ("search by payload text", f"/admin/queues/queue/email/?q={payload_word}"),
        ("search by error text", "/admin/queues/queue/email/?q=db-42.internal"),
        ("dead letters (failed grouped by type and error)", "/admin/queues/dead-letters/"),
    ]


def _time(client: Any, url: str) -> list[float]:
    for _ in range(WARM):
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}")
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - start) * 1000)
    return times


def run(bench: Any, *, quick: bool = False) -> None:
    """Fill the job table, time the dashboard's pages and add the rows to ``bench`` (bench.measure.Bench)."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from bench.measure import Row, percentile
    from jobs.management.generate import generate_jobs

    count = 100_000 if quick else 1_000_000
    print(f"dashboard: generate_jobs --count {count:,}, then page times in-process", flush=True)
    bench.reset()
    began = time.monotonic()
    generated = generate_jobs(count=count)
    seconds = time.monotonic() - began
    phases = ", ".join(f"{name} {s:.1f} s" for name, s in generated.timings.items())
    print(f"  generated {generated.jobs:,} jobs and {generated.attempts:,} attempts in {seconds:.0f} s ({phases})",
          flush=True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) jobs_queuejob")  # as autovacuum would have by now: visibility map set
    user = get_user_model().objects.create_superuser("bench-dashboard", password=None)
    client = Client(SERVER_NAME="localhost")  # the bench's ALLOWED_HOSTS has no "testserver"
    client.force_login(user)
    results = []
    for label, url in _pages(count):
        times = _time(client, url)
        results.append((label, times))
        bench._add(Row(f"dashboard: {label} p50", "ms", statistics.median(times), BUDGET_MS, "lower",
                       raw_label="budget"))
    slowest = max(results, key=lambda r: percentile(r[1], 95))
    bench.details.append(
        f"dashboard: {generated.jobs:,} jobs and {generated.attempts:,} attempts generated in {seconds:.0f} s "
        f"({phases}); page times are Django's whole request in-process (django.test.Client), median of {RUNS} "
        f"after {WARM} warm-up requests; p95: "
        + ", ".join(f"{label} {percentile(times, 95):.0f} ms" for label, times in results)
        + f"; slowest p95: {slowest[0]}")
    bench.reset()
