"""Resume a queue (the switch lives in PostgreSQL)."""
from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from jobs.core.errors import JobTypeError
from jobs.engine.audit import audit_record
from jobs.engine.queues import queue_resume
from jobs.management.cli import cli_actor


class Command(BaseCommand):
    help = "Resume a paused queue and send its waiting jobs to the workers again."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", help="Queue name")

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        try:
            with transaction.atomic():
                queue_resume(name=name)
                audit_record(actor=cli_actor("resume_queue"), action="resume", count=0, target=f"queue {name}")
        except JobTypeError as exc:
            raise CommandError("; ".join([str(exc), *(err["message"] for err in exc.errors)])) from None
        self.stdout.write(f"queue {name} resumed")
