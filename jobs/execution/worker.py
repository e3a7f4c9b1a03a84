"""The worker process: fetch a batch, claim it in one statement, run it in slots, finish in groups.

Like Oban's producer, the main thread asks for exactly as many messages as
there are free slots per queue (jobs.execution.fetch), claims them in one
statement (jobs.engine.attempts.jobs_claim: a duplicate, cancelled or paused
job is skipped) and hands the claims to the slots (jobs.execution.slots). The
finisher writes ended runs in groups, the lease keeper renews every running
attempt in one statement and stops runs whose attempt was closed elsewhere,
the watchdog enforces time limits (jobs.execution.time_limits).

RQ stays the transport and the registry: messages are RQ jobs in RQ's lists
(plain ``rqworker`` runs them too, one at a time), and the process registers
as an RQ worker, so ``Worker.all()``, the dashboard and /healthz see it. What
RQ would keep per job (registries, results) PostgreSQL already holds, so it is
not written.

Shutdown (SIGTERM/SIGINT): no new messages; runs that end within the grace
period (WORKER_SHUTDOWN_TIMEOUT) finish, the others are stopped and put back
``pending`` (attempt ``interrupted``, not charged); a second signal ends the
grace at once. A worker that lost half of its slots to handlers stuck in C
exits with EXIT_SLOTS_LOST so that its supervisor starts a fresh one.
"""
from __future__ import annotations

import logging
import math
import os
import signal
import socket
import time
from types import FrameType
from typing import Any

import redis
from django.db import DatabaseError, close_old_connections, connection
from rq import Worker, worker_registration
from rq.worker import WorkerStatus

from jobs.core import log_context
from jobs.core.config import get_config
from jobs.core.errors import JobTimeout, LeaseLost, WorkerShutdown
from jobs.core.states import AttemptOutcome, JobStatus
from jobs.core.transport import Dispatch, get_rq_queue, redis_connection, rq_queue_names
from jobs.engine.attempts import Finish, failed_run, jobs_claim
from jobs.engine.dispatch import jobs_undispatch
from jobs.engine.limits import jobs_claim_limited
from jobs.execution.fetch import Fetcher, Message
from jobs.execution.finisher import Finisher
from jobs.execution.lease import LeaseKeeper
from jobs.execution.progress import ProgressWriter
from jobs.execution.run_state import Run
from jobs.execution.slots import Slots
from jobs.execution.time_limits import Watchdog, stop_run
from jobs.selectors.queues import paused_queues

logger = logging.getLogger(__name__)

#: Exit code of a worker that gave up too many slots to stuck handlers (its supervisor restarts it).
EXIT_SLOTS_LOST = 75
#: How often the pause switches are read again.
PAUSE_POLL = 1.0
#: Longest a blocking wait for messages lasts (the loop then re-reads switches and signals).
IDLE_BLOCK = 1.0
#: With most slots busy, wait this long for more to free up before fetching (batches claims).
REFILL_DELAY = 0.002
#: Longest wait between attempts to reach Redis or PostgreSQL while it is down.
MAX_BACKOFF = 5.0
#: How often the main thread lets Django check and recycle its database connection.
CONNECTION_CHECK_INTERVAL = 10.0


class JobWorker:
    def __init__(self, queues: list[str], *, name: str | None = None, concurrency: int | None = None,
                 shutdown_timeout: float | None = None) -> None:
        config = get_config()
        self.queues = queues
        self.name = name or f"{socket.gethostname()}.{os.getpid()}"
        log_context.bind_process(worker=self.name)
        self.capacity = {q: concurrency or config.queue(q).concurrency for q in queues}
        self.shutdown_timeout = config.shutdown_timeout if shutdown_timeout is None else shutdown_timeout
        self.grace = config.timeout_grace
        self.registration = Worker([get_rq_queue(n) for n in rq_queue_names(queues)], name=self.name,
                                   connection=redis_connection())
        self.exit_code = 0
        self._stop_at: float | None = None  # when (monotonic) the shutdown grace ends
        self._paused: frozenset[str] = frozenset()
        self._paused_at = -math.inf
        #: Queues whose global limit was reached, and until when (monotonic) not to ask again.
        self._blocked: dict[str, float] = {}
        self._checked = time.monotonic()
        self.claimed = 0
        self._state = ""

    # --- lifecycle -------------------------------------------------------------------

    def work(self, *, burst: bool = False, max_jobs: int | None = None) -> int:
        """Run until stopped (or, with ``burst``, until the queues are empty); returns the exit code."""
        self.progress = ProgressWriter(running=lambda: [run.claim.job_id for run in self.slots.running()])
        self.slots = Slots(self.capacity, on_finish=self._ended, writer=self.progress)
        self.finisher = Finisher(written=self._written, lease=get_config().lease_seconds)
        self.fetcher = Fetcher()
        self.watchdog = Watchdog(running=self.slots.running, write_off=self._write_off, grace=self.grace)
        self.keeper = LeaseKeeper(lease=get_config().lease_seconds, running=self._running_attempts,
                                  on_lost=self._lost, beat=self._beat)
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        self.registration.register_birth()
        self._set_state(WorkerStatus.IDLE)
        for thread in (self.finisher, self.watchdog, self.keeper, self.progress):
            thread.start()
        try:
            self._loop(burst=burst, max_jobs=max_jobs)
            self._drain()
        finally:
            self.finisher.close(timeout=10)
            for thread in (self.watchdog, self.keeper, self.progress):
                thread.stop()
            self.slots.close()
            try:
                self.registration.register_death()
            except redis.RedisError as exc:
                logger.warning("event=worker_unregister_failed error=%r", exc)
            connection.close()
        return self.exit_code

    def _loop(self, *, burst: bool, max_jobs: int | None) -> None:
        backoff = 0.1
        total = sum(self.capacity.values())
        while self._stop_at is None:
            free = self._free()
            if not any(free.values()):
                self.slots.wait_for_change(0.1)
                continue
            if self.slots.busy() and sum(free.values()) * 4 < total:
                time.sleep(REFILL_DELAY)  # runs end close together: one fetch and one claim for several
                free = self._free()
            try:
                messages = self.fetcher.fetch(free)
                if not messages and not burst:
                    idle = self.slots.busy() == 0
                    messages = self.fetcher.wait(free, timeout=IDLE_BLOCK if idle else 0.05)
                if messages:
                    self._claim(messages)
                elif burst and self.slots.busy() == 0 and self.finisher.idle() and not self._waiting_on_limits():
                    return
                elif burst:
                    self.slots.wait_for_change(0.01)
                backoff = 0.1
            except (redis.ConnectionError, redis.TimeoutError, DatabaseError) as exc:
                # A worker outlives a Redis or PostgreSQL restart: popped messages whose claim did not
                # happen are re-sent by the reconciler (their RQ hashes say "started").
                logger.warning("event=worker_backoff worker=%s retry_in=%.1fs error=%r", self.name, backoff, exc)
                connection.close()
                time.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
            if max_jobs is not None and self.claimed >= max_jobs:
                self._stop_at = time.monotonic() + self.shutdown_timeout

    def _free(self) -> dict[str, int]:
        now = time.monotonic()
        if now - self._paused_at >= PAUSE_POLL:
            self._paused_at = now
            try:
                self._paused = frozenset(paused_queues())
            except DatabaseError as exc:  # the claim re-checks the switch anyway
                logger.warning("event=pause_check_failed worker=%s error=%r", self.name, exc)
                connection.close()
        free = self.slots.free()
        return {q: (0 if q in self._paused or self._blocked.get(q, 0) > now else n) for q, n in free.items()}

    def _waiting_on_limits(self) -> bool:
        now = time.monotonic()
        return any(until > now for until in self._blocked.values())

    def _claim(self, messages: list[Message]) -> None:
        now = time.monotonic()
        if connection.errors_occurred or now - self._checked >= CONNECTION_CHECK_INTERVAL:
            close_old_connections()
            self._checked = now
        config, lease, pid = get_config(), get_config().lease_seconds, os.getpid()
        by_queue: dict[str, dict[str, Message]] = {}
        for message in messages:
            if message.job_id:
                by_queue.setdefault(message.queue, {})[message.job_id] = message
        unlimited = [job_id for q, jobs in by_queue.items() if not config.queue(q).limited for job_id in jobs]
        claims = jobs_claim(unlimited, worker=self.name, pid=pid, lease=lease)
        waiting: list[Message] = []  # over a global limit: back to Redis, untouched
        for queue, jobs in by_queue.items():
            if config.queue(queue).limited:
                won, tried, wait = jobs_claim_limited(list(jobs), queue=config.queue(queue), worker=self.name,
                                                      pid=pid, lease=lease)
                claims += won
                waiting += list(jobs.values())[tried:]
                if wait is not None:
                    self._blocked[queue] = time.monotonic() + wait
        if waiting:
            self.fetcher.put_back(waiting)
        won_ids = {str(c.job_id) for c in claims}
        held = {m.rq_id for m in waiting}
        refused = [Dispatch(m.job_id, "", 0, m.rq_id) for m in messages
                   if m.job_id and m.job_id not in won_ids and m.rq_id not in held]
        if refused and jobs_undispatch(refused, only_paused=True):
            logger.info("event=bounced_paused jobs=%d", len(refused))
        self.fetcher.done([m.rq_id for m in messages if m.rq_id not in held])
        self.claimed += len(claims)
        if claims:
            self._set_state(WorkerStatus.BUSY)
            self.slots.submit(claims)

    def _drain(self) -> None:
        """Shutting down: let runs end within the grace period, then stop them and put their jobs back."""
        stopped = False
        while self.slots.busy():
            if not stopped and time.monotonic() >= (self._stop_at or 0):
                for run in self.slots.running():
                    stop_run(run, WorkerShutdown)
                stopped = True
            self.slots.wait_for_change(0.05)

    # --- signals ---------------------------------------------------------------------

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        """First signal: take no new job, give running ones the grace period; second: stop them now."""
        now = time.monotonic()
        if self._stop_at is None:
            logger.info("event=shutdown_requested worker=%s grace=%gs running=%d", self.name, self.shutdown_timeout,
                        self.slots.busy())
            self._stop_at = now + self.shutdown_timeout
        else:
            logger.warning("event=forced_shutdown worker=%s", self.name)
            self._stop_at = now

    # --- callbacks from the slots, the finisher, the watchdog and the lease keeper -----

    def _ended(self, run: Run, finish: Finish | None) -> None:
        if finish is not None:
            self.finisher.put(finish)

    def _written(self, group: list[Finish], rows: list[Any]) -> None:
        failed = sum(1 for f in group if f.outcome in (AttemptOutcome.ERROR, AttemptOutcome.TIMEOUT))
        with redis_connection().pipeline(transaction=False) as pipe:
            for _ in range(len(group)):
                self.registration.increment_successful_job_count(pipeline=pipe)
            for _ in range(failed):
                self.registration.increment_failed_job_count(pipeline=pipe)
            if not self.slots.busy():
                self._set_state(WorkerStatus.IDLE, pipeline=pipe)
            pipe.execute()

    def _set_state(self, state: WorkerStatus, pipeline: object = None) -> None:
        """RQ's worker state, written only when it changes (not once per batch)."""
        if state != self._state:
            self._state = state
            self.registration.set_state(state, pipeline=pipeline)

    def _write_off(self, run: Run) -> None:
        """A run ignored its stop for the grace period (stuck in C): close its attempt, lose its slot."""
        self.slots.write_off(run)
        duration = time.monotonic() - run.started
        if run.stopping is JobTimeout:
            self.finisher.put(failed_run(run.claim, AttemptOutcome.TIMEOUT, (
                "JobTimeout", f"handler exceeded its time limit of {run.claim.timeout:g} s and did not stop "
                f"(stuck outside Python); its slot was written off", ""), duration, retryable=True))
        elif run.stopping is WorkerShutdown:
            self.finisher.put(Finish(run.claim, AttemptOutcome.INTERRUPTED, JobStatus.PENDING, duration,
                                     error=("WorkerShutdown", "did not stop within the grace period", ""),
                                     uncharged=True))
        total = sum(self.capacity.values())
        if self.slots.lost() * 2 >= total and self._stop_at is None:
            logger.error("event=slots_lost worker=%s lost=%d of=%d; exiting for a restart", self.name,
                         self.slots.lost(), total)
            self.exit_code = EXIT_SLOTS_LOST
            self._stop_at = time.monotonic()

    def _running_attempts(self) -> list[int]:
        """Attempts whose lease is renewed: runs in flight, and ended runs whose finish waits to be written."""
        running = [run.attempt_id for run in self.slots.running() if not run.written_off]
        return running + self.finisher.waiting_attempts()

    def _lost(self, attempt_ids: set[int]) -> None:
        for run in self.slots.running():
            if run.attempt_id in attempt_ids:
                stop_run(run, LeaseLost)

    def _beat(self) -> None:
        """RQ's heartbeat, plus registering again when Redis lost the registry (flushed, restarted)."""
        worker = self.registration
        worker.heartbeat()
        if not worker.connection.sismember(worker_registration.REDIS_WORKER_KEYS, worker.key):
            logger.warning("event=worker_reregistered worker=%s", self.name)
            with worker.connection.pipeline() as pipe:
                pipe.hset(worker.key, mapping=worker.serialize())
                worker_registration.register(worker, pipe)
                pipe.expire(worker.key, worker.worker_ttl + 60)
                pipe.execute()

