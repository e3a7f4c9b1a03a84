"""The worker: RQ's SimpleWorker with our shutdown, pause and time-limit rules.

In-process execution (no fork per job) is ~4x faster for short jobs on this
machine (DESIGN.md, performance notes); time limits still hold because the
runner arms its own SIGALRM deadline around the handler.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from types import FrameType
from typing import Any

import redis
from django.db import DatabaseError, close_old_connections, connection
from rq import Queue, worker_registration
from rq.job import Job
from rq.timeouts import BaseDeathPenalty
from rq.worker import SimpleWorker, WorkerStatus

from jobs import runner
from jobs.conf import get_config
from jobs.dispatch import get_rq_queue, logical_queue, redis_connection, rq_queue_names
from jobs.models import QueueState
from jobs.transitions import attempt_renew_lease

logger = logging.getLogger(__name__)

#: How often an idle worker re-reads which queues are paused.
PAUSE_POLL = 1.0
#: Longest wait between attempts to reach Redis while it is down.
MAX_REDIS_BACKOFF = 5.0
#: How often the worker checks that Redis still lists it (it may have been flushed or restarted).
REGISTRATION_CHECK_INTERVAL = 2.0
#: How often a busy worker lets Django check and recycle its database connection.
CONNECTION_CHECK_INTERVAL = 10.0


class NoDeathPenalty(BaseDeathPenalty):
    """The runner enforces time limits itself (jobs.deadline)."""

    def setup_death_penalty(self) -> None:
        pass

    def cancel_death_penalty(self) -> None:
        pass


class LeaseKeeper(threading.Thread):
    """Renews the running attempt's lease (and the RQ worker heartbeat) while a handler runs.

    A thread, because the handler owns the main thread for as long as it
    likes; it uses its own database connection (Django's are per thread).
    """

    def __init__(self, worker: JobWorker, lease: float) -> None:
        super().__init__(name="lease-keeper", daemon=True)
        self.worker = worker
        self.lease = lease
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.lease / 3):
            attempt_id = runner.current_attempt_id
            if attempt_id is None:
                continue
            try:
                attempt_renew_lease(attempt_id, lease=self.lease)
                self.worker.heartbeat()
            except Exception as exc:  # keep renewing after a database or Redis blip
                logger.warning("event=lease_renewal_failed attempt=%s error=%r", attempt_id, exc)
                connection.close()
        connection.close()

    def stop(self) -> None:
        self._stop_event.set()


class JobWorker(SimpleWorker):
    death_penalty_class = NoDeathPenalty

    def __init__(self, queues: list[str], *, name: str | None = None, shutdown_timeout: float | None = None):
        rq_queues = [get_rq_queue(rq_name) for rq_name in rq_queue_names(queues)]
        name = name or f"{socket.gethostname()}.{os.getpid()}"
        super().__init__(rq_queues, name=name, connection=redis_connection())
        runner.set_worker_name(name)
        self.shutdown_timeout = get_config().shutdown_timeout if shutdown_timeout is None else shutdown_timeout
        self._paused_checked = 0.0
        self._paused: frozenset[str] = frozenset()
        self._connection_checked = 0.0
        self._registration_checked = 0.0

    def work(self, *args: Any, **kwargs: Any) -> bool:
        keeper = LeaseKeeper(self, get_config().lease_seconds)
        keeper.start()
        try:
            return super().work(*args, **kwargs)
        finally:
            keeper.stop()

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's heartbeat, plus re-registration when Redis lost the worker registry.

        After a Redis restart without persistence the worker keeps running, but
        nothing lists it any more (dashboards, /healthz); it registers again.
        """
        super().heartbeat(timeout, pipeline)
        now = time.monotonic()
        if pipeline is not None or now - self._registration_checked < REGISTRATION_CHECK_INTERVAL:
            return
        self._registration_checked = now
        if not self.connection.sismember(worker_registration.REDIS_WORKER_KEYS, self.key):
            logger.warning("event=worker_reregistered worker=%s", self.name)
            with self.connection.pipeline() as pipe:
                pipe.hset(self.key, mapping=self.serialize())
                worker_registration.register(self, pipe)
                pipe.expire(self.key, self.worker_ttl + 60)
                pipe.execute()

    # --- pause -------------------------------------------------------------

    def _paused_queues(self) -> frozenset[str]:
        now = time.monotonic()
        if now - self._paused_checked >= PAUSE_POLL:
            self._paused_checked = now
            try:
                close_old_connections()
                self._paused = frozenset(QueueState.objects.filter(paused=True).values_list("name", flat=True))
            except DatabaseError as exc:
                # A database blip must not stop the worker; the claim re-checks the switch anyway.
                logger.warning("event=pause_check_failed worker=%s error=%r", self.name, exc)
                connection.close()
        return self._paused

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        """Listen only on unpaused queues, re-reading the pause switches at least every PAUSE_POLL s.

        The claim re-checks the switch in PostgreSQL, so a job popped just as
        its queue was paused is handed back, never run.
        """
        backoff = PAUSE_POLL
        while True:
            paused = self._paused_queues()
            self._ordered_queues = [q for q in self.queues if logical_queue(q.name) not in paused]
            try:
                if self._ordered_queues:
                    poll = None if timeout is None else int(PAUSE_POLL)
                    result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time=poll)
                    if result is not None or timeout is None:
                        return result
                elif timeout is None:
                    return None
                else:
                    self.heartbeat()
                    time.sleep(PAUSE_POLL)
                backoff = PAUSE_POLL
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                # RQ lets some Redis errors out of its dequeue (and then quits); a worker
                # should outlive a Redis restart, so wait for it to come back instead.
                logger.warning("event=redis_unavailable worker=%s retry_in=%gs error=%r", self.name, backoff, exc)
                time.sleep(backoff)
                backoff = min(backoff * 2, MAX_REDIS_BACKOFF)

    # --- running -----------------------------------------------------------

    def execute_job(self, job: Job, queue: Queue) -> None:
        # Django's connection upkeep (health-check query, max age) as a request
        # would do it, but not before every job: that would add a query per job.
        now = time.monotonic()
        if connection.errors_occurred or now - self._connection_checked >= CONNECTION_CHECK_INTERVAL:
            close_old_connections()
            self._connection_checked = now
        super().execute_job(job, queue)

    def handle_job_success(self, job: Job, queue: Queue, started_job_registry: Any) -> None:
        """RQ counts every run as a success (the runner never raises); count the failed ones too."""
        super().handle_job_success(job, queue, started_job_registry)
        if runner.last_run_failed:
            self.increment_failed_job_count()

    # --- shutdown ----------------------------------------------------------

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """First SIGTERM/SIGINT: take no new job; give the running one the grace period."""
        if self.get_state() == WorkerStatus.BUSY:
            logger.info("event=shutdown_requested worker=%s grace=%gs", self.name, self.shutdown_timeout)
            runner.request_shutdown(self.shutdown_timeout)
        super().request_stop(signum, frame)

    def request_force_stop(self, signum: int, frame: FrameType | None) -> None:
        """Second signal: stop the running handler now and put its job back, then exit."""
        if self.get_state() == WorkerStatus.BUSY:
            logger.warning("event=forced_shutdown worker=%s", self.name)
            runner.request_shutdown(0)
            return
        super().request_force_stop(signum, frame)
