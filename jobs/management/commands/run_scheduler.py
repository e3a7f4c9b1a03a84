"""Run the scheduler loop; any number may run, one leads (see jobs.plugins.scheduler)."""
from __future__ import annotations

import argparse

from django.core.management.base import BaseCommand

from jobs.plugins.scheduler import Scheduler


class Command(BaseCommand):
    requires_system_checks: list[str] = []  # as run_worker: checks are `manage.py check`'s job
    help = "Promote due scheduled/retrying jobs and re-dispatch jobs Redis never got."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--once", action="store_true", help="Run one tick and exit")
        parser.add_argument("--interval", type=float, default=None,
                            help="Seconds between ticks (default: SCHEDULER_INTERVAL)")

    def handle(self, *args: object, once: bool, interval: float | None, **options: object) -> None:
        Scheduler(interval=interval).run(once=once)
