"""The scheduler loop: one leader at a time (jobs.plugins.leader) runs the maintenance plugins.

Any number of schedulers may run; a standby takes over on its next tick
(SCHEDULER_INTERVAL) after the leader dies. On the leader each tick runs the
stager (due and stranded jobs) and fires due cron schedules; every second the
lifeline rescues jobs whose worker vanished, and every few seconds the
reconciler re-sends jobs Redis lost and the count folder folds the job count
deltas. Each step is isolated: one failing does not stop the others.

After PostgreSQL was unreachable (which ends the lock's session, so
leadership is won again), the leader runs the lifeline only one lease after
its first tick that got through again (the heartbeat: a connection pool may
take a while to reconnect). While PostgreSQL was away no worker could renew
a lease or write a finish, so every lease may look expired when it returns;
a live worker renews within a third of a lease and retries its finishes at
least as often (jobs.execution.finisher), so a run that is really lost is
the only kind still expired after that. A failover without an outage (the
leader died) rescues at once, as before.
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

from jobs.core.config import get_config
from jobs.models import SchedulerHeartbeat
from jobs.plugins.counts import job_counts_fold
from jobs.plugins.cron import schedules_fire_due
from jobs.plugins.leader import Leadership
from jobs.plugins.lifeline import jobs_rescue_lost
from jobs.plugins.reconciler import jobs_reconcile
from jobs.plugins.stager import stage_due, stage_stranded

logger = logging.getLogger(__name__)

class Scheduler:
    def __init__(self, *, interval: float | None = None) -> None:
        self.interval = interval if interval is not None else get_config().scheduler_interval
        self.name = f"{socket.gethostname()}.{os.getpid()}"
        self.leadership = Leadership(self.name)
        self._stop = threading.Event()
        self._last_run: dict[str, float] = {}
        #: When (monotonic) the lifeline may run: one lease after the first tick that reached PostgreSQL
        #: again after an outage (None: that tick is still to come).
        self._lifeline_from: float | None = 0.0
        self._after_outage = False

    @property
    def is_leader(self) -> bool:
        return self.leadership.is_leader

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
                self._after_outage = True
                self.leadership.drop()  # the lock may have gone with a broken session; re-elect
            if once:
                break
            self._stop.wait(self.interval)
        self.leadership.drop()
        logger.info("event=scheduler_stopped")

    def tick(self) -> None:
        if not self._lead():
            return
        now = time.monotonic()
        self._step("heartbeat", self._heartbeat, now, every=1.0)
        config = get_config()
        if self._lifeline_from is None:  # the heartbeat got through: from now on workers can renew too
            self._lifeline_from = time.monotonic() + config.lease_seconds
        self._step("promote", stage_due, now)
        self._step("stranded", stage_stranded, now)
        self._step("schedules", schedules_fire_due, now)
        if time.monotonic() >= self._lifeline_from:
            self._step("lifeline", jobs_rescue_lost, now, every=1.0)
        # Folding the dashboard's count deltas is routine upkeep: not worth a log line.
        self._step("counts", lambda: job_counts_fold() and None, now, every=2.0)
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
        was_leader = self.is_leader
        leading = self.leadership.hold()
        if leading and not was_leader:
            self._last_run.clear()  # a new leader runs every step at once
            if self._after_outage:  # leases may have lapsed only because nobody could reach PostgreSQL
                self._lifeline_from = None
                self._after_outage = False
        return leading
