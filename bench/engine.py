"""The concurrent worker's own phases: I/O-bound makespan, start-up, memory with many slots, Redis left behind.

Each runs real ``run_worker`` processes on the bench's database and Redis db.
"""
from __future__ import annotations

import time
from typing import Any

import psutil

from devstack.waiting import wait_for

#: 1,000 jobs that each sleep 100 ms (I/O-bound work), in one process with 50 slots: the ideal is 2.0 s.
IO_JOBS, IO_SECONDS, IO_SLOTS = 1000, 0.1, 50


def io_bound(bench: Any, *, quick: bool = False) -> None:
    from django.db.models import Max, Min

    from bench.measure import Row
    from jobs.engine.enqueue import job_enqueue_many
    from jobs.models import JobAttempt

    n = 200 if quick else IO_JOBS
    print(f"I/O-bound: {n} jobs sleeping {IO_SECONDS * 1000:.0f} ms, one process, {IO_SLOTS} slots", flush=True)
    bench.reset()
    job_enqueue_many([{"type": "demo.sleep", "payload": {"seconds": IO_SECONDS, "steps": 1}}] * n)
    proc = bench.children.start("worker-io", bench._manage("run_worker", "default", "--burst", "--concurrency",
                                                            str(IO_SLOTS)), bench.stack.env)
    bench.children.wait_exit([proc], timeout=300)
    done = bench._completed()
    if done != n:
        raise RuntimeError(f"I/O-bound: {done} of {n} jobs completed")
    span = JobAttempt.objects.aggregate(first=Min("started_at"), last=Max("finished_at"))
    makespan = (span["last"] - span["first"]).total_seconds()
    ideal = n * IO_SECONDS / IO_SLOTS
    bench._add(Row(f"I/O-bound makespan, {n} jobs x {IO_SECONDS * 1000:.0f} ms, 1 process, {IO_SLOTS} slots", "s",
                   makespan, ideal, "lower", raw_label="ideal (jobs x time / slots)"))


def startup(bench: Any) -> None:
    """Exec of ``run_worker`` to the claim of a job already waiting (the specification: within 500 ms)."""
    from bench.measure import NOOP, Row
    from jobs.engine.enqueue import job_enqueue
    from jobs.models import JobAttempt

    print("start-up: exec of run_worker to its first claim, a job already waiting (median of 3)", flush=True)
    times = []
    for _ in range(3):
        bench.reset()
        job = job_enqueue(**NOOP).job
        started = time.time()
        proc = bench.children.start("worker-startup", bench._manage("run_worker", "default", "--burst"),
                                    bench.stack.env)
        bench.children.wait_exit([proc], timeout=60)
        attempt = JobAttempt.objects.get(job_id=job.id)
        times.append((attempt.started_at.timestamp() - started) * 1000)
    times.sort()
    bench._add(Row("worker start-up, exec to first claim", "ms", times[1], 500.0, "lower",
                   raw_label="specification"))


def memory(bench: Any, *, quick: bool = False) -> None:
    """Worker RSS with 50 slots against 1 slot, each after running the same jobs."""
    from bench.measure import NOOP, Row
    from jobs.engine.enqueue import job_enqueue_many

    n = 200 if quick else 2000
    print(f"memory: worker RSS after {n} no-op jobs, 1 slot vs {IO_SLOTS} slots", flush=True)
    rss = {}
    for slots in (1, IO_SLOTS):
        bench.reset()
        proc = bench.children.start(f"worker-rss-{slots}", bench._manage("run_worker", "default", "--concurrency",
                                                                          str(slots)), bench.stack.env)
        wait_for(lambda: bench.children.check_alive(proc) or "listening on" in proc.log_path.read_text(), 30,
                 message="the worker to start")
        job_enqueue_many([NOOP] * n)
        wait_for(lambda: bench._completed() == n, 120, message="the memory phase's jobs")
        rss[slots] = psutil.Process(proc.pid).memory_info().rss / 2**20
        bench.children.stop(proc)
    bench._add(Row(f"worker RSS, {IO_SLOTS} slots", "MiB", rss[IO_SLOTS], rss[1], "lower", raw_label="1 slot"))


def redis_left_behind(bench: Any, *, quick: bool = False) -> None:
    """Redis memory after N jobs ran against before: RQ's copy of each job is deleted once PostgreSQL has
    the claim, a finished job's sequence key expires a minute after its last event, the event stream is a
    fixed-size buffer (trimmed here before measuring)."""
    from bench.measure import NOOP, SLOTS, Row
    from jobs.engine.enqueue import job_enqueue_many
    from jobs.events.stream import FINAL_SEQ_TTL, SEQ_KEY, STREAM

    n = 10_000 if quick else 100_000
    print(f"redis: used_memory before and after {n:,} jobs ran", flush=True)
    bench.reset()
    before = bench.r.info("memory")["used_memory"]
    for done in range(0, n, 1000):
        job_enqueue_many([NOOP] * min(1000, n - done))
    proc = bench.children.start("worker-redis", bench._manage("run_worker", "default", "--burst", "--concurrency",
                                                               str(SLOTS)), bench.stack.env)
    bench.children.wait_exit([proc], timeout=600)
    if bench._completed() != n:
        raise RuntimeError(f"redis phase: {bench._completed()} of {n} jobs completed")
    rq_keys = sum(1 for _ in bench.r.scan_iter("rq:job:*"))
    bench.r.xtrim(STREAM, maxlen=0)
    wait_for(lambda: next(bench.r.scan_iter(f"{SEQ_KEY}*", count=10_000), None) is None, FINAL_SEQ_TTL + 30,
             message="the finished jobs' sequence keys to expire")
    after = bench.r.info("memory")["used_memory"]
    bench._add(Row(f"Redis used_memory after {n:,} jobs ran", "MiB", after / 2**20, before / 2**20, "lower",
                   raw_label="before they ran"))
    bench.details.append(f"redis: {rq_keys} RQ job hashes left after {n:,} jobs ran")
