"""Lease renewal and fencing: while runs are in flight, their attempts' leases are pushed forward.

A thread, every third of the lease, with its own database connection; it
renews every running attempt of the process in one statement and beats the
RQ worker registration. An attempt the renewal leaves out was closed by the
lifeline (jobs.plugins.lifeline: the process was cut off from PostgreSQL for
longer than the lease, and the job may already run elsewhere): ``on_lost``
stops that run, and the engine refuses its progress and finish writes
(jobs.engine.attempts, guarded by attempt).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection

from django.db import connection

from jobs.engine.attempts import attempts_renew

logger = logging.getLogger(__name__)


class LeaseKeeper(threading.Thread):
    def __init__(
        self,
        *,
        lease: float,
        running: Callable[[], Collection[int]],
        on_lost: Callable[[set[int]], None],
        beat: Callable[[], None],
    ) -> None:
        super().__init__(name="lease-keeper", daemon=True)
        self.lease = lease
        self._running = running
        self._on_lost = on_lost
        self._beat = beat
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.lease / 3):
            self.renew()
        connection.close()

    def renew(self) -> None:
        attempt_ids = set(self._running())
        try:
            renewed = attempts_renew(sorted(attempt_ids), lease=self.lease)
        except Exception as exc:  # keep trying after a database blip; the lease covers a short one
            logger.warning("event=lease_renewal_failed attempts=%d error=%r", len(attempt_ids), exc)
            connection.close()
        else:
            lost = (attempt_ids - renewed) & set(self._running())  # a run that just ended is not lost
            if lost:
                logger.warning("event=lease_lost attempts=%s", ",".join(map(str, sorted(lost))))
                self._on_lost(lost)
        try:
            self._beat()
        except Exception as exc:
            logger.warning("event=heartbeat_failed error=%r", exc)

    def stop(self) -> None:
        self._stop_event.set()
