"""Counts per state, pause switch, workers and oldest pending age for every queue."""
from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand

from jobs.core.states import JobStatus
from jobs.management.cli import format_duration, format_table, to_json
from jobs.selectors.queues import queue_stats


class Command(BaseCommand):
    help = "Show per-queue job counts, pause state, workers and the age of the oldest pending job."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--json", dest="as_json", action="store_true", help="Print a JSON list")

    def handle(self, *args: Any, as_json: bool, **options: Any) -> None:
        stats = queue_stats()
        if as_json:
            self.stdout.write(to_json([s.public() for s in stats]))
            return
        states = JobStatus.values
        self.stdout.write(format_table(
            ["queue", *states, "paused", "workers", "oldest pending"],
            [
                (s.name, *(s.counts.get(state, 0) for state in states), "yes" if s.paused else "no",
                 s.workers, format_duration(s.oldest_pending_age))
                for s in stats
            ],
        ))
