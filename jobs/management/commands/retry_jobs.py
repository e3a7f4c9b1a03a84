"""Requeue failed or cancelled jobs, by id or by filter."""
from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from jobs.core.errors import InvalidTransition
from jobs.core.states import RETRYABLE_STATES, JobStatus
from jobs.engine.audit import audit_record
from jobs.engine.transitions import job_requeue
from jobs.management.cli import cli_actor, find_job
from jobs.models import QueueJob
from jobs.selectors.jobs import job_list


class Command(BaseCommand):
    help = ("Requeue failed or cancelled jobs (same id and history, a fresh set of attempts). "
            "Give job ids, or filters (--status defaults to failed when filtering).")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("ids", nargs="*", metavar="ID", help="Job ids (or unique prefixes, 6+ characters) to requeue")
        parser.add_argument("--status", choices=sorted(RETRYABLE_STATES),
                            help="Requeue every job in this state (default when filtering: failed)")
        parser.add_argument("--type", help="Only jobs of this type")
        parser.add_argument("--queue", help="Only jobs of this queue")
        parser.add_argument("--dry-run", action="store_true", help="Show what would be requeued; change nothing")

    def handle(self, *args: Any, ids: list[str], status: str | None, type: str | None, queue: str | None,
               dry_run: bool, **options: Any) -> None:
        filtering = bool(status or type or queue)
        if ids and filtering:
            raise CommandError("give job ids or filters (--status/--type/--queue), not both")
        if not ids and not filtering:
            raise CommandError("nothing to retry: give job ids, or --status/--type/--queue to select jobs")

        problems: list[str] = []
        if ids:
            targets: list[QueueJob] = []
            for raw in ids:
                try:
                    targets.append(find_job(raw))
                except LookupError as exc:
                    problems.append(str(exc))
        else:
            targets = list(job_list(status=status or JobStatus.FAILED, queue=queue, type=type))

        actor = cli_actor("retry_jobs")
        selection = ", ".join(f"{name}={value}" for name, value in (
            ("status", status or JobStatus.FAILED), ("type", type), ("queue", queue)) if value)
        requeued: list[QueueJob] = []
        for job in targets:
            if job.status not in RETRYABLE_STATES:
                problems.append(f"{job.id}: is {job.status}; only failed or cancelled jobs can be retried")
            elif dry_run:
                requeued.append(job)
            else:
                try:
                    with transaction.atomic():
                        requeued.append(job_requeue(job_id=job.id))
                        if ids:  # each on its job (its page lists it); a filter's are one entry, below
                            audit_record(actor=actor, action="retry", count=1, object_id=job.id,
                                         detail=f"{job.type} on {job.queue}")
                except InvalidTransition as exc:  # changed state since we listed it
                    problems.append(f"{job.id}: {exc}")
        if not ids and not dry_run:
            audit_record(actor=actor, action="retry", count=len(requeued), detail=selection)

        verb = "would requeue" if dry_run else "requeued"
        for job in requeued:
            self.stdout.write(f"{verb} {job.id} {job.type} ({job.queue})")
        self.stdout.write(f"{'Would requeue' if dry_run else 'Requeued'} {len(requeued)} job(s).")
        if problems:
            for line in problems:
                self.stderr.write(f"not requeued: {line}")
            raise CommandError(f"{len(problems)} job(s) could not be requeued")
