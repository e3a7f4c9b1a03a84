"""Counting for ``GET /metrics``: in memory where things happen, added to PostgreSQL every few seconds.

The engine counts after a change commits (jobs.engine.publish for enqueues,
jobs.engine.attempts for claims and finishes); that costs a dict update, never
a statement on the worker's hot path. A helper thread adds each process's
counts to MetricCounter rows every METRICS_FLUSH_SECONDS in one upsert, and at
exit (so a worker stopped or restarted loses nothing; one killed with SIGKILL
loses at most that interval). Summed in PostgreSQL, the series are correct
across processes, hosts and restarts, and nothing prunes them: a counter never
goes down. jobs.selectors.metrics reads them with the gauges.

Histograms are stored the Prometheus way: a counter per bucket (not
cumulative here; the reader adds them up), plus ``_sum`` and ``_count``.
"""
from __future__ import annotations

import atexit
import bisect
import logging
import os
import threading
from collections import defaultdict

from django.conf import settings
from django.db import Error, connection

from jobs.core.metrics import BUCKETS, bucket_label, labels_key

logger = logging.getLogger(__name__)

#: A series: (metric name, canonical JSON of its labels).
Series = tuple[str, str]


class Counts:
    """This process's counts since its last flush; thread-safe, cheap to add to."""

    def __init__(self) -> None:
        self._reset()
        self.forked = False
        os.register_at_fork(after_in_child=self._forked)
        atexit.register(self.flush)

    def _forked(self) -> None:
        """In a forked child (RQ's work horse, which ends with os._exit: no atexit, no thread left)."""
        self._reset()
        self.forked = True

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._wakeup = threading.Event()
        self._pending: defaultdict[Series, float] = defaultdict(float)
        self._thread: threading.Thread | None = None

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        with self._lock:
            self._pending[(name, labels_key(**labels))] += value
        self._start()

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        """One histogram sample: its bucket, ``_sum`` and ``_count``."""
        seconds = max(seconds, 0.0)
        index = bisect.bisect_left(BUCKETS, seconds)
        upper = BUCKETS[index] if index < len(BUCKETS) else float("inf")
        key = labels_key(**labels)
        with self._lock:
            self._pending[(f"{name}_bucket", labels_key(**labels, le=bucket_label(upper)))] += 1
            self._pending[(f"{name}_sum", key)] += seconds
            self._pending[(f"{name}_count", key)] += 1
        self._start()

    def flush(self) -> None:
        """Add what was counted to PostgreSQL in one statement; on failure keep it for the next flush."""
        with self._lock:
            pending, self._pending = self._pending, defaultdict(float)
        if not pending:
            return
        names, label_sets, values = zip(*((name, key, value) for (name, key), value in pending.items()))
        try:
            with connection.cursor() as cursor:
                # In one order in every process: two flushing the same rows at once then wait, never deadlock.
                cursor.execute(
                    "INSERT INTO jobs_metriccounter (name, labels, value)"
                    " SELECT * FROM unnest(%s::text[], %s::text[], %s::float8[]) AS s(name, labels, value)"
                    " ORDER BY name, labels"
                    " ON CONFLICT (name, labels) DO UPDATE SET value = jobs_metriccounter.value + EXCLUDED.value",
                    [list(names), list(label_sets), list(values)],
                )
        except Error as exc:  # PostgreSQL away, or the connection closed under us: add it all next time
            logger.warning("event=metrics_flush_failed series=%d error=%r", len(pending), exc)
            with self._lock:
                for series, value in pending.items():
                    self._pending[series] += value

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="job-metrics", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while not self._wakeup.wait(settings.METRICS_FLUSH_SECONDS):
            self.flush()
            try:
                connection.close()  # back to the pool until the next flush
            except Error as exc:
                logger.warning("event=metrics_connection_close_failed error=%r", exc)


counts = Counts()
