"""List jobs, newest first, filtered like GET /api/jobs."""
from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from jobs.core.shape import job_to_dict
from jobs.core.states import JobStatus
from jobs.management.cli import EXIT_INVALID, format_table, format_time, positive_int, to_json
from jobs.selectors.filters import FilterError
from jobs.selectors.jobs import job_list


class Command(BaseCommand):
    help = "List jobs, newest first."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--status", choices=JobStatus.values, help="Only jobs in this state")
        parser.add_argument("--queue", help="Only jobs of this queue")
        parser.add_argument("--type", help="Only jobs of this type")
        parser.add_argument("--search", help="Match id, payload or error text")
        parser.add_argument("--limit", type=positive_int, default=50, help="At most this many (default: %(default)r)")
        parser.add_argument("--json", dest="as_json", action="store_true", help="Print a JSON list")

    def handle(self, *args: Any, status: str | None, queue: str | None, type: str | None, search: str | None,
               limit: int, as_json: bool, **options: Any) -> None:
        try:
            jobs = list(job_list(status=status, queue=queue, type=type, q=search)[:limit])
        except FilterError as exc:
            raise CommandError(f"--search: {exc}", returncode=EXIT_INVALID) from None
        if as_json:
            self.stdout.write(to_json([job_to_dict(job) for job in jobs]))
            return
        if not jobs:
            self.stdout.write("No jobs match.")
            return
        self.stdout.write(format_table(
            ["id", "type", "queue", "status", "progress", "attempts", "created"],
            [
                (job.id, job.type, job.queue, job.status, f"{job.progress_percent}%",
                 f"{job.attempts}/{job.max_attempts}", format_time(job.created_at))
                for job in jobs
            ],
        ))
