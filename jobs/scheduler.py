"""The scheduler loop: one leader at a time makes waiting jobs due.

Leadership is a PostgreSQL session advisory lock held on the scheduler's own
connection: if the leader dies its connection closes, the lock is released
and a standby takes over on its next tick. Each tick promotes scheduled and
retrying jobs whose time has come and re-sends pending jobs that never reached
Redis.
"""
from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from django.db import connection

from jobs.conf import get_config
from jobs.transitions import jobs_dispatch_stranded, jobs_promote_due

logger = logging.getLogger(__name__)

#: Arbitrary, fixed: the advisory lock key that marks the scheduler leader.
LEADER_LOCK_KEY = 7_413_001


class Scheduler:
    def __init__(self, *, interval: float | None = None) -> None:
        self.interval = interval if interval is not None else get_config().scheduler_interval
        self.is_leader = False
        self._stop = threading.Event()

    def stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        self._stop.set()

    def run(self, *, once: bool = False) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        logger.info("event=scheduler_started interval=%gs", self.interval)
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                logger.exception("event=scheduler_tick_failed")
                connection.close()  # the lock went with a broken connection; re-elect
                self.is_leader = False
            if once:
                break
            self._stop.wait(self.interval)
        self._release()
        logger.info("event=scheduler_stopped")

    def tick(self) -> None:
        if not self._lead():
            return
        promoted = jobs_promote_due()
        stranded = jobs_dispatch_stranded()
        if promoted or stranded:
            logger.info("event=scheduler_tick promoted=%d redispatched=%d", promoted, stranded)

    def _lead(self) -> bool:
        if not self.is_leader:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [LEADER_LOCK_KEY])
                self.is_leader = bool(cursor.fetchone()[0])
            if self.is_leader:
                logger.info("event=scheduler_leader")
        return self.is_leader

    def _release(self) -> None:
        if self.is_leader:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LEADER_LOCK_KEY])
            self.is_leader = False


