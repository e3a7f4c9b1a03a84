"""Enqueue one job from the command line, optionally following it to the end."""
from __future__ import annotations

import argparse
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from jobs.core.errors import JobTypeError
from jobs.core.registry import get_job_type
from jobs.core.states import JobStatus
from jobs.engine.audit import audit_record
from jobs.engine.enqueue import job_enqueue
from jobs.management.cli import (
    EXIT_INVALID,
    EXIT_WAIT_TIMEOUT,
    WaitTimeout,
    cli_actor,
    follow_job,
    invalid_input,
    job_progress_line,
    non_negative_float,
    parse_json_object,
    positive_float,
    positive_int,
)
from jobs.models import JobSource, QueueJob

POLL_INTERVAL = 0.1


class Command(BaseCommand):
    help = (
        "Enqueue a job and print its id. With --wait, follow it and exit 0 when it completed, "
        "1 when it failed or was cancelled, 3 when --wait-timeout passed; invalid input exits 2."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("type", help="Job type, e.g. email.send")
        parser.add_argument("--payload", default="{}", help="Payload as a JSON object (default: %(default)r)")
        parser.add_argument("--queue", help="Queue (default: the job type's)")
        parser.add_argument("--priority", type=int, help="0 (first) to 9 (last); default: the type's or queue's")
        parser.add_argument("--delay", type=non_negative_float, help="Seconds before the first run")
        parser.add_argument("--unique-key", help="At most one live job per key; a duplicate prints the live job")
        parser.add_argument("--max-attempts", type=positive_int, help="Runs before the job is dead-lettered")
        parser.add_argument("--timeout", type=positive_float, help="Handler time limit in seconds")
        parser.add_argument("--correlation-id", default="", help="Free-form id to trace related work")
        parser.add_argument("--allow-internal", action="store_true",
                            help="Allow an internal type (webhook deliveries, maintenance: the engine's own work)")
        parser.add_argument("--wait", action="store_true", help="Follow the job until it finishes")
        parser.add_argument("--wait-timeout", type=positive_float, default=None,
                            help="With --wait: give up after this many seconds (exit 3; default: never)")

    def handle(self, *args: Any, **options: Any) -> None:
        job_type = options["type"]
        try:
            # Whoever holds the shell holds the database too, so the CLI checks no user's rights; it
            # only refuses, unless told, types meant for the engine alone (jobs/core/registry.py).
            if get_job_type(job_type).enqueue_access() == "internal" and not options["allow_internal"]:
                raise CommandError(f"{job_type} is an internal job type (the engine enqueues it); "
                                   "pass --allow-internal to enqueue it anyway", returncode=EXIT_INVALID)
            with transaction.atomic():
                result = job_enqueue(
                    type=job_type,
                    payload=parse_json_object(options["payload"]),
                    queue=options["queue"],
                    priority=options["priority"],
                    delay=options["delay"],
                    unique_key=options["unique_key"],
                    max_attempts=options["max_attempts"],
                    timeout=options["timeout"],
                    correlation_id=options["correlation_id"],
                    source=JobSource.COMMAND,
                    source_detail="enqueue_job",
                )
                if result.created:
                    audit_record(actor=cli_actor("enqueue_job"), action="enqueue", count=1, object_id=result.job.id,
                                 detail=f"{result.job.type} on {result.job.queue}")
        except JobTypeError as exc:
            raise invalid_input(f"cannot enqueue {job_type!r}", exc) from None
        job = result.job
        self.stdout.write(str(job.id))
        if not result.created:
            self.stderr.write(f"a live job with unique key {job.unique_key!r} already exists ({job.status})")
        if options["wait"]:
            self.wait(job, timeout=options["wait_timeout"])

    def wait(self, row: QueueJob, *, timeout: float | None) -> None:
        tty = self.stdout.isatty()
        width = 0
        job: dict[str, Any] = {"id": str(row.id), "status": row.status}
        try:
            for snapshot in follow_job(row.id, interval=POLL_INTERVAL, timeout=timeout):
                line = job_progress_line(snapshot)
                if tty:
                    self.stdout.write("\r" + line.ljust(width), ending="")
                    self.stdout.flush()
                    width = max(width, len(line))
                else:
                    self.stdout.write(line)
                job = snapshot
        except WaitTimeout as exc:
            self._end_line(tty)
            raise CommandError(f"gave up waiting after {timeout:g}s: {exc}", returncode=EXIT_WAIT_TIMEOUT) from None
        except LookupError as exc:
            self._end_line(tty)
            raise CommandError(str(exc)) from None
        except KeyboardInterrupt:
            self._end_line(tty)
            raise CommandError(f"stopped waiting; job {job['id']} carries on", returncode=130) from None
        self._end_line(tty)
        if job["status"] == JobStatus.COMPLETED:
            self.stdout.write(f"completed: {json.dumps(job['result'])}")
            return
        detail = job["error"] or "no error recorded"
        self.stdout.write(f"{job['status']}: {detail}")
        raise CommandError(f"job {job['id']} {job['status']} after {job['attempts']} attempt(s)", returncode=1)

    def _end_line(self, tty: bool) -> None:
        if tty:
            self.stdout.write("")
