"""PostgreSQL unreachable when a run ends: the finish waits for it, and the completed job keeps its result.

The worker and the scheduler reach PostgreSQL through TCP proxies of their
own that the test cuts (every connection dropped, new ones refused) for
longer than the lease while a job is running. The scheduler gets PostgreSQL
back first and leads again before the worker is back, the worst order. The
job has no attempt left, so a lifeline that took the lapsed lease for a dead
worker would dead-letter a job that completed.
"""
from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from django.db import connection
from django.test import Client

from jobs.core.states import JobStatus
from jobs.models import JobAttempt, QueueJob, SchedulerHeartbeat
from tests.conftest import database_url, wait_for
from tests.jobs.api.test_views import ALL_PERMISSIONS, bearer_client, make_user, post_json

pytestmark = pytest.mark.django_db(transaction=True)

LEASE = 3.0


class TcpProxy:
    """Forwards a local port to PostgreSQL; ``cut()`` drops every connection and refuses new ones."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                _close(sock)

    def cut(self) -> None:
        self.up.clear()
        with self._lock:
            doomed, self._open = self._open, []
        for sock in doomed:
            _close(sock)

    def restore(self) -> None:
        self.up.set()

    def close(self) -> None:
        self.cut()
        self.listener.close()


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def _proxy() -> Iterator[TcpProxy]:
    settings = connection.settings_dict
    proxy = TcpProxy((settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432)))
    yield proxy
    proxy.close()


proxy = pytest.fixture(_proxy)
scheduler_proxy = pytest.fixture(_proxy)


@pytest.fixture
def api() -> Client:
    return bearer_client(make_user("operator", *ALL_PERMISSIONS))


def proxied_env(processes, proxy: TcpProxy) -> dict[str, str]:
    url = database_url()
    host_port = url.split("@", 1)[1].split("/", 1)[0]
    return processes.env(DATABASE_URL=url.replace(host_port, f"127.0.0.1:{proxy.port}", 1),
                         JOB_LEASE_SECONDS=str(LEASE), DB_POOL_TIMEOUT="1")


def lapsed(attempt_id: int) -> bool:
    """Whether the attempt's lease ran out over a second ago (the test's own connection is not proxied)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT lease_expires_at < now() - interval '1 second' FROM jobs_jobattempt WHERE id = %s",
                       [attempt_id])
        return cursor.fetchone()[0]


def complete_during_an_outage(api: Client, proxy: TcpProxy, scheduler_proxy: TcpProxy) -> dict:
    """A job with one attempt runs; PostgreSQL goes away until its run ended and its lease lapsed, and comes
    back to the scheduler first; the job's end state."""
    response = post_json(api, "/api/jobs", {"type": "demo.spin", "payload": {"seconds": 1}, "max_attempts": 1})
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    wait_for(lambda: QueueJob.objects.get(pk=job_id).status == JobStatus.ACTIVE, message="the job to start")
    proxy.cut()
    scheduler_proxy.cut()
    attempt = JobAttempt.objects.get(job_id=job_id)
    wait_for(lambda: lapsed(attempt.id), timeout=10, message="the lease to lapse while PostgreSQL is unreachable")
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        (back_at,) = cursor.fetchone()
    scheduler_proxy.restore()
    wait_for(lambda: SchedulerHeartbeat.objects.filter(beat_at__gt=back_at).exists(), timeout=20,
             message="the scheduler to lead again")  # and, unless it waits, to run the lifeline in that tick
    proxy.restore()

    def final() -> dict | None:
        body = api.get(f"/api/jobs/{job_id}").json()
        return body if body["status"] in (JobStatus.COMPLETED, JobStatus.FAILED) else None

    body = wait_for(final, timeout=20, message="the job to end")
    body["outcomes"] = list(JobAttempt.objects.filter(job_id=job_id).values_list("outcome", flat=True))
    return body


# The proxies come before ``processes`` so that they close after it: a process stopped while its proxy is
# already gone would retry its finish (rightly) until it is killed.
def test_a_run_that_ends_while_postgresql_is_away_is_completed_not_dead_lettered(api, proxy, scheduler_proxy,
                                                                                 processes):
    processes.worker("default", env=proxied_env(processes, proxy))
    processes.scheduler(env=proxied_env(processes, scheduler_proxy))
    job = complete_during_an_outage(api, proxy, scheduler_proxy)
    assert (job["status"], job["outcomes"]) == (JobStatus.COMPLETED, ["completed"]), job
    assert job["result"]["loops"] > 0


def test_the_rqworker_path_retries_its_finish_too(api, proxy, scheduler_proxy, processes):
    worker = processes.start("rqworker", "default", env=proxied_env(processes, proxy), name="rqworker")
    wait_for(lambda: "Listening on" in processes.output(worker) or worker.poll() is not None, timeout=20,
             message="rqworker to listen")
    processes.scheduler(env=proxied_env(processes, scheduler_proxy))
    job = complete_during_an_outage(api, proxy, scheduler_proxy)
    assert (job["status"], job["outcomes"]) == (JobStatus.COMPLETED, ["completed"]), job
    assert "event=finish_write_failed" in processes.output(worker)
