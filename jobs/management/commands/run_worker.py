"""Run a worker for some queues (all but the dedicated ones when none are named); thin: see jobs.execution.worker."""
from __future__ import annotations

import argparse

from django.core.management.base import BaseCommand, CommandError

from jobs.core.config import get_config
from jobs.execution.worker import JobWorker
from jobs.management.cli import positive_int

#: Queues that get their own worker processes and are left out of the default set.
DEDICATED_QUEUES = ("ai",)


def _positive(value: str) -> float:
    number = float(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be zero or more")
    return number


class Command(BaseCommand):
    # System checks import every URL and API module: half a second of start-up a worker does not need
    # (`manage.py check` runs them, and `make test`).
    requires_system_checks: list[str] = []
    help = "Run a job worker for the given queues: several jobs at once per queue (slots), batched round trips."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("queues", nargs="*", help="Queue names (default: every queue except %s)"
                            % ", ".join(DEDICATED_QUEUES))
        parser.add_argument("--burst", action="store_true", help="Exit when the queues are empty")
        parser.add_argument("--name", help="Worker name (default: host.pid)")
        parser.add_argument("--shutdown-timeout", type=_positive, default=None,
                            help="Seconds to let a running job finish on SIGTERM (default: WORKER_SHUTDOWN_TIMEOUT)")
        parser.add_argument("--max-jobs", type=positive_int, default=None, help="Exit after this many jobs")
        parser.add_argument("--concurrency", type=positive_int, default=None,
                            help="Jobs run at once per queue (default: each queue's concurrency in JOB_QUEUES)")

    def handle(self, *args: object, queues: list[str], burst: bool, name: str | None,
               shutdown_timeout: float | None, max_jobs: int | None, concurrency: int | None,
               **options: object) -> None:
        known = get_config().queues
        unknown = [q for q in queues if q not in known]
        if unknown:
            raise CommandError(f"unknown queue(s): {', '.join(unknown)}; known: {', '.join(known)}")
        queues = queues or [q for q in known if q not in DEDICATED_QUEUES]
        worker = JobWorker(queues, name=name, concurrency=concurrency, shutdown_timeout=shutdown_timeout)
        slots = ", ".join(f"{q}×{n}" for q, n in worker.capacity.items())
        self.stdout.write(f"worker {worker.name} listening on {', '.join(queues)} (slots: {slots})")
        self.stdout.flush()
        code = worker.work(burst=burst, max_jobs=max_jobs)
        if code:
            raise CommandError(f"worker {worker.name} stopped for a restart (exit {code})", returncode=code)
