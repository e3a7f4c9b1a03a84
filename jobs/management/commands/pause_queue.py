"""Pause a queue (the switch lives in PostgreSQL)."""
from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from jobs.core.errors import JobTypeError
from jobs.engine.queues import queue_pause


class Command(BaseCommand):
    help = "Pause a queue: workers leave its jobs waiting until it is resumed."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", help="Queue name")

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        try:
            queue_pause(name=name)
        except JobTypeError as exc:
            raise CommandError("; ".join([str(exc), *(err["message"] for err in exc.errors)])) from None
        self.stdout.write(f"queue {name} paused")
