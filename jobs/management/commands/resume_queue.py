"""Resume a queue (the switch lives in PostgreSQL)."""
from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from jobs.core.errors import JobTypeError
from jobs.engine.queues import queue_resume


class Command(BaseCommand):
    help = "Resume a paused queue and send its waiting jobs to the workers again."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", help="Queue name")

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        try:
            queue_resume(name=name)
        except JobTypeError as exc:
            raise CommandError("; ".join([str(exc), *(err["message"] for err in exc.errors)])) from None
        self.stdout.write(f"queue {name} resumed")
