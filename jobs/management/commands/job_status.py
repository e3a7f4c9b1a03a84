"""Show one job: a summary (or its JSON) and its attempts."""
from __future__ import annotations

import argparse
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from jobs.core.shape import attempt_to_dict, job_to_dict
from jobs.management.cli import find_job, format_duration, format_table, format_time, shorten, to_json
from jobs.models import QueueJob
from jobs.selectors.jobs import job_attempts


class Command(BaseCommand):
    help = "Show a job's status, progress, result or error, and its attempts."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("job_id", metavar="ID", help="Job id, or a unique prefix of it (6+ characters)")
        parser.add_argument("--json", dest="as_json", action="store_true",
                            help="Print the job as JSON, with its attempts as 'attempt_list'")

    def handle(self, *args: Any, job_id: str, as_json: bool, **options: Any) -> None:
        try:
            job = find_job(job_id)
        except LookupError as exc:
            raise CommandError(str(exc)) from None
        attempts = [attempt_to_dict(a) for a in job_attempts(job)]
        if as_json:
            self.stdout.write(to_json({**job_to_dict(job), "attempt_list": attempts}))
            return
        self.stdout.write(summary(job))
        self.stdout.write("")
        if attempts:
            self.stdout.write(attempts_table(attempts))
        else:
            self.stdout.write("No attempts yet.")


def summary(job: QueueJob) -> str:
    progress = f"{job.progress_percent}%"
    if job.progress_stage or job.progress_message:
        progress += " " + " · ".join(p for p in (job.progress_stage, job.progress_message) if p)
    rows = [
        ("id", job.id),
        ("type", job.type),
        ("queue", job.queue),
        ("status", job.status + (" (cancel requested)" if job.cancel_requested else "")),
        ("priority", job.priority),
        ("progress", progress),
        ("attempts", f"{job.attempts} of {job.max_attempts}"),
        ("created", format_time(job.created_at)),
        ("started", format_time(job.started_at)),
        ("finished", format_time(job.finished_at)),
        ("run at", format_time(job.run_at) if job.run_at else None),
        ("correlation", job.correlation_id or None),
        ("unique key", job.unique_key),
        ("source", f"{job.source} {job.source_detail}".strip()),
        ("payload", shorten(json.dumps(job.payload), 200)),
        ("result", shorten(json.dumps(job.result), 200) if job.result is not None else None),
        ("error", job.error or None),
    ]
    return "\n".join(f"{label + ':':<13}{value}" for label, value in rows if value is not None)


def attempts_table(attempts: list[dict[str, Any]]) -> str:
    return format_table(
        ["#", "outcome", "worker", "started", "duration", "error"],
        [
            (
                a["number"],
                a["outcome"] or "running",
                a["worker"],
                format_time(a["started_at"]),
                format_duration(a["duration"]),
                shorten(f"{a['error_type']}: {a['error_message']}") if a["error_type"] else "",
            )
            for a in attempts
        ],
    )
