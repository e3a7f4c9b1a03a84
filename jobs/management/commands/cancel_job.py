"""Cancel jobs: waiting ones at once, running ones cooperatively."""
from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from jobs.core.errors import InvalidTransition
from jobs.core.states import JobStatus
from jobs.engine.audit import audit_record
from jobs.engine.transitions import job_cancel
from jobs.management.cli import cli_actor, find_job


class Command(BaseCommand):
    help = "Cancel waiting jobs and ask running ones to stop; exits 1 if any could not be cancelled."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("ids", nargs="+", metavar="ID", help="Job ids, or unique prefixes (6+ characters)")

    def handle(self, *args: Any, ids: list[str], **options: Any) -> None:
        failed = 0
        actor = cli_actor("cancel_job")
        for raw in ids:
            try:
                job = find_job(raw)
            except LookupError as exc:
                self.stderr.write(str(exc))
                failed += 1
                continue
            try:
                with transaction.atomic():
                    job = job_cancel(job_id=job.id)
                    audit_record(actor=actor, action="cancel", count=1, object_id=job.id,
                                 detail=f"{job.type} on {job.queue}")
            except InvalidTransition as exc:
                self.stderr.write(f"{raw}: {exc}")
                failed += 1
                continue
            if job.status == JobStatus.CANCELLED:
                self.stdout.write(f"{job.id}: cancelled")
            else:
                self.stdout.write(f"{job.id}: cancel requested ({job.status}; stops at its next progress report)")
        if failed:
            raise CommandError(f"{failed} of {len(ids)} job(s) could not be cancelled")
