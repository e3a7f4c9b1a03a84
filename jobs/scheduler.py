"""The scheduler loop: one leader at a time owns everything that is "due".

Leadership is a PostgreSQL session advisory lock held on a connection of its
own, outside Django's (pooled) connections: if the leader dies that session
ends, the lock is released and a standby takes over on its next tick
(SCHEDULER_INTERVAL). On the leader
each tick promotes scheduled and retrying jobs whose time has come, re-sends
pending jobs that never reached Redis and fires due cron schedules; every
second it rescues jobs whose worker vanished (lifeline), and every few
seconds it re-sends jobs Redis lost (reconciler) and folds the job count
deltas (jobs.counts). Each step is isolated: one
failing does not stop the others.
"""
from __future__ import annotations

import logging
import math
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType

import psycopg
from django.db import DatabaseError, connection
from django.utils import timezone

from jobs.conf import get_config
from jobs.counts import job_counts_fold
from jobs.lifeline import jobs_rescue_lost
from jobs.models import SchedulerHeartbeat
from jobs.reconciler import jobs_reconcile
from jobs.schedules import schedules_fire_due
from jobs.transitions import jobs_dispatch_stranded, jobs_promote_due

logger = logging.getLogger(__name__)

#: Arbitrary, fixed: the advisory lock key that marks the scheduler leader.
LEADER_LOCK_KEY = 7_413_001


class Scheduler:
    def __init__(self, *, interval: float | None = None) -> None:
        self.interval = interval if interval is not None else get_config().scheduler_interval
        self.is_leader = False
        self.name = f"{socket.gethostname()}.{os.getpid()}"
        self._stop = threading.Event()
        self._last_run: dict[str, float] = {}
        self._lock_conn: psycopg.Connection | None = None

    def stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        self._stop.set()

    def run(self, *, once: bool = False) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        logger.info("event=scheduler_started interval=%gs", self.interval)
        while not self._stop.is_set():
            try:
                self.tick()
            except (DatabaseError, psycopg.Error):
                logger.exception("event=scheduler_tick_failed")
                connection.close()
                self._drop_lock()  # the lock may have gone with a broken session; re-elect
            if once:
                break
            self._stop.wait(self.interval)
        self._release()
        logger.info("event=scheduler_stopped")

    def tick(self) -> None:
        if not self._lead():
            return
        now = time.monotonic()
        self._step("heartbeat", self._heartbeat, now, every=1.0)
        self._step("promote", jobs_promote_due, now)
        self._step("stranded", jobs_dispatch_stranded, now)
        self._step("schedules", schedules_fire_due, now)
        self._step("lifeline", jobs_rescue_lost, now, every=1.0)
        # Folding the dashboard's count deltas is routine upkeep: not worth a log line.
        self._step("counts", lambda: job_counts_fold() and None, now, every=2.0)
        config = get_config()
        self._step("reconcile", lambda: jobs_reconcile(older_than=config.reconcile_after), now,
                   every=min(5.0, config.reconcile_after))

    def _step(self, name: str, func: Callable[[], object], now: float, every: float = 0.0) -> None:
        if now - self._last_run.get(name, -math.inf) < every:
            return
        self._last_run[name] = now
        try:
            count = func()
        except DatabaseError:
            raise  # the connection (and with it the lock) may be gone: re-elect
        except Exception:
            logger.exception("event=scheduler_step_failed step=%s", name)
            return
        if count:
            logger.info("event=scheduler_step step=%s count=%s", name, count)

    def _heartbeat(self) -> None:
        SchedulerHeartbeat.objects.update_or_create(
            name="leader", defaults={"holder": self.name, "beat_at": timezone.now()}
        )

    def _lead(self) -> bool:
        if self._lock_conn is None or self._lock_conn.closed:
            self._lock_conn = psycopg.connect(**_lock_connection_params(), autocommit=True)
            self.is_leader = False
        if self.is_leader:
            self._lock_conn.execute("SELECT 1")  # still our session, so still our lock
        else:
            row = self._lock_conn.execute("SELECT pg_try_advisory_lock(%s)", [LEADER_LOCK_KEY]).fetchone()
            self.is_leader = bool(row and row[0])
            if self.is_leader:
                logger.info("event=scheduler_leader holder=%s", self.name)
                self._last_run.clear()
        return self.is_leader

    def _drop_lock(self) -> None:
        """End the lock's session: releases leadership at once, whatever state the session is in."""
        self.is_leader = False
        if self._lock_conn is not None:
            self._lock_conn.close()
            self._lock_conn = None

    def _release(self) -> None:
        self._drop_lock()


def _lock_connection_params() -> dict[str, object]:
    """Django's connection parameters for the default database, without its pool."""
    params = connection.get_connection_params()
    params.pop("pool", None)
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.setdefault("connect_timeout", 5)
    return params
