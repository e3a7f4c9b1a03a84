"""The phases. Each measures the engine and raw RQ back to back, same Redis, same machine minute.

Raw RQ is plain RQ as its documentation shows it: ``Queue.enqueue`` /
``Queue.enqueue_many`` of ``bench.rqjobs.noop`` with default options, run by
``rq worker -w rq.worker.SimpleWorker`` (in-process, like ours). Ours is the
project's public path: ``job_enqueue`` / ``job_enqueue_many`` of ``demo.noop``
and ``manage.py run_worker``. Both sides log at WARNING.
"""
from __future__ import annotations

import http.client
import math
import socket
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter

import redis
from rq import Queue, Worker
from rq.job import Job
from rq.job import JobStatus as RqStatus

from bench.procs import Children, tail
from bench.rqjobs import noop
from bench.stack import Stack
from devstack.waiting import wait_for

RAW_QUEUE = "bench_raw"
#: demo.noop runs on queue "default" with priority 5, so its RQ list is "default".
OUR_QUEUE = "default"
NOOP = {"type": "demo.noop", "payload": {}}
#: Execution slots of the bench's worker processes (run_worker --concurrency).
SLOTS = 50


@dataclass
class Row:
    metric: str
    unit: str
    ours: float | None
    raw: float | None
    better: str  # "higher" / "lower": which way is good for this metric
    raw_label: str = "raw RQ"


@dataclass
class Sizes:
    single: int = 2000
    bulk: int = 10000
    batch: int = 500
    throughput: int = 3000
    latency: int = 200
    latency_gap: float = 0.02
    api: int = 500
    rounds: int = 3  # enqueue phases alternate ours/raw this many times; the median is reported
    throughput_rounds: int = 3

    @classmethod
    def quick(cls) -> Sizes:
        return cls(single=200, bulk=1000, throughput=300, latency=30, api=50, rounds=1, throughput_rounds=1)


def _fmt_list(values: list[float]) -> str:
    return "/".join(f"{v:,.0f}" if v >= 100 else f"{v:.1f}" for v in values)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))]


@dataclass
class Bench:
    stack: Stack
    children: Children
    sizes: Sizes
    rows: list[Row] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # run-time facts for the notes
    _phase: str = ""

    def __post_init__(self) -> None:
        self.r = redis.Redis.from_url(self.stack.redis_url)
        self.raw_queue = Queue(RAW_QUEUE, connection=self.r)
        self.our_list = Queue(OUR_QUEUE, connection=self.r).key

    # ------------------------------------------------------------- helpers

    def reset(self) -> None:
        """Empty the bench's Redis db and job tables (nothing is running at this point)."""
        from django.db import connection

        self.r.flushdb()
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE jobs_queuejob, jobs_jobattempt CASCADE")

    def _manage(self, *args: str) -> list[str]:
        return [sys.executable, "manage.py", *args]

    def _rq_worker(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "rq.cli", "worker", "-w", "rq.worker.SimpleWorker", "--quiet",
                "-u", self.stack.redis_url, "--path", ".", *args, RAW_QUEUE]

    def _completed(self) -> int:
        from jobs.models import QueueJob

        return QueueJob.objects.filter(status="completed").count()

    def _add(self, row: Row) -> None:
        self.rows.append(row)
        ratio = f"{row.ours / row.raw:.2f}x" if row.ours is not None and row.raw else "n/a"
        ours = "n/a" if row.ours is None else f"{row.ours:,.1f}"
        raw = "n/a" if row.raw is None else f"{row.raw:,.1f}"
        print(f"  {row.metric}: ours {ours} {row.unit}, {row.raw_label} {raw} {row.unit}, ratio {ratio}", flush=True)

    def _alternate(self, rounds: int, ours: Callable[[], float], raw: Callable[[], float],
                   budget: float | None = None) -> tuple[float, float]:
        """Run both sides ``rounds`` times, swapping which goes first each round; return the medians.

        Swapping the order spreads slow drifts (another job starting on the
        machine) over both sides instead of charging them to one. With a
        ``budget`` (seconds), no round is started that would likely end past
        it, so a slow engine cannot push the whole run far beyond ~5 minutes.
        """
        results: dict[str, list[float]] = {"ours": [], "raw": []}
        began = time.monotonic()
        for i in range(rounds):
            elapsed = time.monotonic() - began
            if budget is not None and i > 0 and elapsed + elapsed / i > budget:
                self.details.append(f"{self._phase}: stopped after {i} of {rounds} rounds (time budget {budget:.0f} s)")
                break
            pair = [("ours", ours), ("raw", raw)]
            for name, fn in pair if i % 2 == 0 else reversed(pair):
                self.reset()
                results[name].append(fn())
        if len(results["ours"]) > 1:
            self.details.append(f"{self._phase}: rounds ours {_fmt_list(results['ours'])}, "
                                f"raw {_fmt_list(results['raw'])}")
        return statistics.median(results["ours"]), statistics.median(results["raw"])

    # ------------------------------------------------------------- enqueue

    def enqueue_single(self) -> None:
        from jobs.engine.enqueue import job_enqueue

        n = self.sizes.single
        self._phase = f"single enqueue, N={n}"
        print(f"{self._phase} x {self.sizes.rounds} rounds", flush=True)
        self.reset()
        for _ in range(50):  # warm-up: imports, connections, caches
            job_enqueue(**NOOP)
            self.raw_queue.enqueue(noop)

        def ours() -> float:
            start = perf_counter()
            for _ in range(n):
                job_enqueue(**NOOP)
            rate = n / (perf_counter() - start)
            assert self.r.llen(self.our_list) == n, "ours: not every job reached Redis"
            return rate

        def raw() -> float:
            start = perf_counter()
            for _ in range(n):
                self.raw_queue.enqueue(noop)
            return n / (perf_counter() - start)

        rates = self._alternate(self.sizes.rounds, ours, raw)
        self._add(Row("single enqueue (autocommit)", "jobs/s", *rates, "higher"))
        self._add(Row("single enqueue (autocommit)", "jobs/s", rates[0], self._bare_enqueue(n), "higher",
                      raw_label="bare durable INSERT + RPUSH"))

    def _bare_enqueue(self, n: int) -> float:
        """The floor of a durable enqueue: one INSERT of a small row (autocommit, WAL-logged: a plain
        table, not a temporary one) and one RPUSH, per job."""
        import uuid

        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_bare")
            cursor.execute("CREATE TABLE bench_bare (id uuid PRIMARY KEY, payload jsonb)")
            start = perf_counter()
            for _ in range(n):
                job_id = uuid.uuid4()
                cursor.execute("INSERT INTO bench_bare VALUES (%s, '{}')", [job_id])
                self.r.rpush("bench_bare", str(job_id))
            rate = n / (perf_counter() - start)
            cursor.execute("DROP TABLE bench_bare")
        self.r.delete("bench_bare")
        return rate

    def enqueue_bulk(self) -> None:
        from jobs.engine.enqueue import job_enqueue_many

        n, batch = self.sizes.bulk, self.sizes.batch
        self._phase = f"bulk enqueue, N={n}"
        print(f"{self._phase} in batches of {batch} x {self.sizes.rounds} rounds", flush=True)
        requests = [NOOP] * batch

        def ours() -> float:
            start = perf_counter()
            for _ in range(n // batch):
                job_enqueue_many(requests)
            rate = n / (perf_counter() - start)
            assert self.r.llen(self.our_list) == n, "ours: not every job reached Redis"
            return rate

        def raw() -> float:
            start = perf_counter()
            for _ in range(n // batch):
                self.raw_queue.enqueue_many([Queue.prepare_data(noop) for _ in range(batch)])
            return n / (perf_counter() - start)

        self._add(Row(f"bulk enqueue (batches of {batch})", "jobs/s",
                      *self._alternate(self.sizes.rounds, ours, raw), "higher"))

    # ---------------------------------------------------------- throughput

    def _fill_ours(self, n: int) -> None:
        from jobs.engine.enqueue import job_enqueue_many

        batch = self.sizes.batch
        for done in range(0, n, batch):
            job_enqueue_many([NOOP] * min(batch, n - done))
        assert self.r.llen(self.our_list) == n

    def _fill_raw(self, n: int) -> list[str]:
        ids: list[str] = []
        batch = self.sizes.batch
        for done in range(0, n, batch):
            jobs = self.raw_queue.enqueue_many([Queue.prepare_data(noop) for _ in range(min(batch, n - done))])
            ids += [job.id for job in jobs]
        return ids

    def _raw_jobs(self, ids: list[str]) -> list[Job]:
        jobs = Job.fetch_many(ids, connection=self.r)
        return [job for job in jobs if job is not None]

    def throughput(self, workers: int) -> None:
        from django.db.models import Max, Min

        from jobs.models import JobAttempt

        n = self.sizes.throughput
        self._phase = f"throughput x{workers}"
        print(f"throughput, {workers} worker process(es), N={n} x {self.sizes.throughput_rounds} rounds", flush=True)
        walls: dict[str, list[float]] = {"ours": [], "raw": []}

        def ours() -> float:
            self._fill_ours(n)
            procs = [self.children.start(f"worker-burst-{k}", self._manage("run_worker", OUR_QUEUE, "--burst",
                                                                           "--concurrency", str(SLOTS)),
                                         self.stack.env) for k in range(workers)]
            start = time.monotonic()
            walls["ours"].append(self.children.wait_exit(procs, timeout=240) - start)
            done = self._completed()
            if done != n:
                raise RuntimeError(f"ours: {done} of {n} jobs completed; worker log:\n{tail(procs[0].log_path)}")
            span = JobAttempt.objects.aggregate(first=Min("started_at"), last=Max("finished_at"))
            return n / (span["last"] - span["first"]).total_seconds()

        def raw() -> float:
            ids = self._fill_raw(n)
            procs = [self.children.start(f"rqworker-burst-{k}", self._rq_worker("--burst"), self.stack.env)
                     for k in range(workers)]
            start = time.monotonic()
            walls["raw"].append(self.children.wait_exit(procs, timeout=240) - start)
            finished = [job for job in self._raw_jobs(ids) if job.get_status(refresh=False) == RqStatus.FINISHED]
            if len(finished) != n:
                raise RuntimeError(f"raw RQ: {len(finished)} of {n} jobs finished; "
                                   f"worker log:\n{tail(procs[0].log_path)}")
            first = min(job.started_at for job in finished)
            last = max(job.ended_at for job in finished)
            return n / (last - first).total_seconds()

        self._add(Row(f"throughput, {workers} worker process{'es' if workers > 1 else ''} ({SLOTS} slots each)", "jobs/s",
                      *self._alternate(self.sizes.throughput_rounds, ours, raw, budget=80), "higher"))
        ours_wall, raw_wall = statistics.median(walls["ours"]), statistics.median(walls["raw"])
        self.details.append(
            f"throughput x{workers}, wall clock from process start to last exit (includes start-up), median: "
            f"ours {n / ours_wall:,.0f} jobs/s ({ours_wall:.1f} s), raw RQ {n / raw_wall:,.0f} jobs/s ({raw_wall:.1f} s)"
        )

    # ------------------------------------------------------------- latency

    def pickup_latency(self) -> None:
        from jobs.engine.enqueue import job_enqueue
        from jobs.models import JobAttempt

        n, gap = self.sizes.latency, self.sizes.latency_gap
        print(f"pickup latency, one idle worker, N={n}, {gap * 1000:.0f} ms apart", flush=True)
        # ours
        self.reset()
        proc = self.children.start("worker-idle", self._manage("run_worker", OUR_QUEUE, "--concurrency", str(SLOTS)),
                                   self.stack.env)
        wait_for(lambda: self.children.check_alive(proc) or "listening on" in proc.log_path.read_text(),
                 30, message="the worker to start")
        time.sleep(0.5)
        for _ in range(5):
            job_enqueue(**NOOP)
        wait_for(lambda: self._completed() == 5, 30, message="warm-up jobs")
        ids = []
        for _ in range(n):
            ids.append(job_enqueue(**NOOP).job.id)
            time.sleep(gap)
        wait_for(lambda: self.children.check_alive(proc) or self._completed() == n + 5, 60, message="latency jobs")
        self.children.stop(proc)
        ours = [(started - created).total_seconds() * 1000 for started, created in
                JobAttempt.objects.filter(job_id__in=ids).values_list("started_at", "job__created_at")]
        # raw RQ
        self.r.flushdb()
        proc = self.children.start("rqworker-idle", self._rq_worker(), self.stack.env)
        wait_for(lambda: self.children.check_alive(proc) or Worker.count(connection=self.r, queue=self.raw_queue),
                 30, message="the RQ worker to start")
        time.sleep(0.5)
        warm = [self.raw_queue.enqueue(noop).id for _ in range(5)]
        wait_for(lambda: self._raw_finished(warm), 30, message="raw warm-up jobs")
        ids = []
        for _ in range(n):
            ids.append(self.raw_queue.enqueue(noop).id)
            time.sleep(gap)
        wait_for(lambda: self.children.check_alive(proc) or self._raw_finished(ids), 60, message="raw latency jobs")
        self.children.stop(proc)
        raw = [(job.started_at - job.enqueued_at).total_seconds() * 1000 for job in self._raw_jobs(ids)]
        for p in (50, 95):
            self._add(Row(f"pickup latency p{p}", "ms", percentile(ours, p), percentile(raw, p), "lower"))

    def _raw_finished(self, ids: list[str]) -> bool:
        jobs = self._raw_jobs(ids)
        return len(jobs) == len(ids) and all(job.get_status(refresh=False) == RqStatus.FINISHED for job in jobs)

    # ----------------------------------------------------------------- API

    def api_latency(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Permission

        from jobs.api.tokens import api_token_create
        from jobs.engine.enqueue import job_enqueue
        from jobs.models import QueueJob

        n = self.sizes.api
        print(f"GET /api/jobs/{{id}} latency, {n} sequential keep-alive requests to uvicorn", flush=True)
        job = QueueJob.objects.filter(status="completed").first() or job_enqueue(**NOOP).job
        User = get_user_model()
        user = User.objects.create_user("bench-api", is_staff=True)
        user.user_permissions.add(Permission.objects.get(codename="view_queuejob", content_type__app_label="jobs"))
        _, key = api_token_create(user=user, name="bench")
        port = _free_port()
        proc = self.children.start(
            "uvicorn",
            [sys.executable, "-m", "uvicorn", "jobsite.asgi:application", "--host", "127.0.0.1",
             "--port", str(port), "--no-access-log", "--log-level", "warning"],
            self.stack.env,
        )
        try:
            wait_for(lambda: self.children.check_alive(proc) or _port_open(port), 30, message="uvicorn to listen")
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            path = f"/api/jobs/{job.id}"
            headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
            status, body = _get(conn, path, headers)
            if status == 403:  # a view that wants more than view permission: retry as superuser
                User.objects.filter(pk=user.pk).update(is_superuser=True)
                self.details.append("API: the staff token with view_queuejob got 403; measured as superuser")
                status, body = _get(conn, path, headers)
            api: list[float] | None = None
            if status == 200 and str(job.id) in body:
                sessions = _pg_sessions()
                api = _time_requests(conn, path, headers, n)
                if sessions is not None:
                    opened = _pg_sessions() - sessions
                    self.details.append(f"API: {opened} new PostgreSQL connections during {n + 20} API requests "
                                        "(0 means connections are reused)")
            else:
                self.details.append(f"API: GET {path} answered {status}, not 200 with the job "
                                    "(is /api/ routed in jobsite/urls.py?); not measured")
                print(f"  GET {path} -> {status}; API latency not measured", flush=True)
            admin = _time_requests(conn, "/admin/login/", {}, n)
            conn.close()
        finally:
            self.children.stop(proc)
        rq_id = self.raw_queue.enqueue(noop).id
        for _ in range(20):
            Job.fetch(rq_id, connection=self.r)
        fetch = []
        for _ in range(n):
            start = perf_counter()
            Job.fetch(rq_id, connection=self.r)
            fetch.append((perf_counter() - start) * 1000)
        for p in (50, 95):
            self._add(Row(f"GET /api/jobs/{{id}} p{p}", "ms", api and percentile(api, p), percentile(fetch, p),
                          "lower", raw_label="Job.fetch = HGETALL"))
        for p in (50, 95):
            self._add(Row(f"GET /api/jobs/{{id}} p{p}, HTTP baseline", "ms", api and percentile(api, p),
                          percentile(admin, p), "lower", raw_label="/admin/login/, same server"))


def _pg_sessions() -> int | None:
    """Sessions ever opened on the bench database (PostgreSQL 14+), or None."""
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
            return int(cursor.fetchone()[0])
    except Exception:
        return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _get(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> tuple[int, str]:
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    return response.status, response.read().decode(errors="replace")


def _time_requests(conn: http.client.HTTPConnection, path: str, headers: dict[str, str], n: int) -> list[float]:
    for _ in range(20):
        _get(conn, path, headers)
    times = []
    for _ in range(n):
        start = perf_counter()
        status, _ = _get(conn, path, headers)
        times.append((perf_counter() - start) * 1000)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status} during the measurement")
    return times

