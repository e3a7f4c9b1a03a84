"""Lease renewal: while a handler runs, its attempt's lease is pushed forward every third of it.

A thread, because the handler owns the main thread for as long as it likes;
it uses its own database connection (Django's are per thread). When renewals
stop (SIGKILL, a dead machine, a partition) the lifeline (jobs.plugins.lifeline)
closes the attempt as lost once the lease has run out.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.db import connection

from jobs.engine.attempts import attempt_renew_lease

logger = logging.getLogger(__name__)


class LeaseKeeper(threading.Thread):
    """Renews the lease of the attempt ``attempt_id()`` names, and calls ``beat()`` (RQ's worker heartbeat)."""

    def __init__(self, *, lease: float, attempt_id: Callable[[], int | None], beat: Callable[[], None]) -> None:
        super().__init__(name="lease-keeper", daemon=True)
        self.lease = lease
        self._attempt_id = attempt_id
        self._beat = beat
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.lease / 3):
            self.renew()
        connection.close()

    def renew(self) -> None:
        attempt_id = self._attempt_id()
        if attempt_id is None:
            return
        try:
            attempt_renew_lease(attempt_id, lease=self.lease)
            self._beat()
        except Exception as exc:  # keep renewing after a database or Redis blip
            logger.warning("event=lease_renewal_failed attempt=%s error=%r", attempt_id, exc)
            connection.close()

    def stop(self) -> None:
        self._stop_event.set()
