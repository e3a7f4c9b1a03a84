"""The worker: RQ's SimpleWorker with our shutdown, pause and time-limit rules.

In-process execution (no fork per job) is ~4x faster for short jobs on this
machine (docs/architecture.md, "Execution"); time limits still hold because
the runner arms its own SIGALRM deadline around the handler (jobs.execution.
deadline). Each RQ job runs with a fresh RunState (jobs.execution.run_state)
that the signal handlers and the lease keeper (jobs.execution.lease) act on.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from types import FrameType
from typing import Any

import redis
from django.db import DatabaseError, close_old_connections, connection
from rq import Queue, worker_registration
from rq.job import Job
from rq.timeouts import BaseDeathPenalty
from rq.worker import SimpleWorker, WorkerStatus

from jobs.core.config import get_config
from jobs.core.transport import get_rq_queue, logical_queue, redis_connection, rq_queue_names
from jobs.execution.lease import LeaseKeeper
from jobs.execution.run_state import RunState, running
from jobs.selectors.queues import paused_queues

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
    """The runner enforces time limits itself (jobs.execution.deadline)."""

    def setup_death_penalty(self) -> None:
        pass

    def cancel_death_penalty(self) -> None:
        pass


class JobWorker(SimpleWorker):
    death_penalty_class = NoDeathPenalty

    def __init__(self, queues: list[str], *, name: str | None = None, shutdown_timeout: float | None = None):
        rq_queues = [get_rq_queue(rq_name) for rq_name in rq_queue_names(queues)]
        name = name or f"{socket.gethostname()}.{os.getpid()}"
        super().__init__(rq_queues, name=name, connection=redis_connection())
        #: The run in progress (a fresh one per RQ job): signals and the lease keeper act on it.
        self.run_state = RunState()
        self.shutdown_timeout = get_config().shutdown_timeout if shutdown_timeout is None else shutdown_timeout
        self._paused_checked = 0.0
        self._paused: frozenset[str] = frozenset()
        self._connection_checked = 0.0
        self._registration_checked = 0.0

    def work(self, *args: Any, **kwargs: Any) -> bool:
        keeper = LeaseKeeper(lease=get_config().lease_seconds, attempt_id=lambda: self.run_state.attempt_id,
                             beat=self.heartbeat)
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
                self._paused = frozenset(paused_queues())
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
        self.run_state = RunState()
        with running(self.run_state):
            super().execute_job(job, queue)

    def handle_job_success(self, job: Job, queue: Queue, started_job_registry: Any) -> None:
        """RQ counts every run as a success (the runner never raises); count the failed ones too."""
        super().handle_job_success(job, queue, started_job_registry)
        if self.run_state.failed:
            self.increment_failed_job_count()

    # --- shutdown ----------------------------------------------------------

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """First SIGTERM/SIGINT: take no new job; give the running one the grace period."""
        if self.get_state() == WorkerStatus.BUSY:
            logger.info("event=shutdown_requested worker=%s grace=%gs", self.name, self.shutdown_timeout)
            self.run_state.request_shutdown(self.shutdown_timeout)
        super().request_stop(signum, frame)

    def request_force_stop(self, signum: int, frame: FrameType | None) -> None:
        """Second signal: stop the running handler now and put its job back, then exit."""
        if self.get_state() == WorkerStatus.BUSY:
            logger.warning("event=forced_shutdown worker=%s", self.name)
            self.run_state.request_shutdown(0)
            return
        super().request_force_stop(signum, frame)
