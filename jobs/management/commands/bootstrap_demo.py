"""Set up a demo: superuser, API token and a few jobs of the real types, once. Safe to run again.

`make run` runs it on whatever DATABASE_URL names, which may be a real
database: so it creates the demo superuser (and its token) only when no user
of that name exists, and never changes an existing user's password or
rights; the demo jobs come with the user, so a second `make run` leaves users, tokens and jobs as they
were. DEMO=0 turns it off.
"""
from __future__ import annotations

import argparse
import os
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from jobs.api.tokens import api_token_create
from jobs.core.errors import JobTypeError
from jobs.core.registry import all_job_types
from jobs.engine.audit import audit_record
from jobs.engine.enqueue import job_enqueue
from jobs.management.cli import cli_actor, field_errors_text
from jobs.models import JobSource

PARAGRAPH = (
    "A job queue lets a web application hand slow work to background workers. "
    "The request returns at once while the work runs elsewhere. "
    "Workers pick jobs from queues, report progress and retry failures with backoff. "
    "Jobs that keep failing end in a dead-letter queue where a person can inspect and requeue them. "
    "Because every job is a database row first, nothing is lost when Redis restarts."
)

#: (type, payload); demo.* types are enqueued only when registered (JOBS_DEMO_TYPES).
DEMO_JOBS: list[tuple[str, dict[str, Any]]] = [
    ("ai.summarize", {"text": PARAGRAPH, "max_sentences": 2}),
    ("email.send", {"to": ["demo@example.com"], "subject": "Hello from the job queue",
                    "body": "This message was sent by a background job."}),
    ("indexing.reindex", {"entity_type": "demo.article", "entity_id": "1", "title": "About job queues",
                          "body": PARAGRAPH}),
    ("demo.sleep", {"seconds": 5, "steps": 10}),
    ("demo.flaky", {"failures": 1, "steps": 3, "step_seconds": 0.5}),
]


class Command(BaseCommand):
    help = ("Create the demo superuser, its API token and a few demo jobs unless that user exists (an existing user "
            "is left as it is, and no jobs are added). Does nothing with DEMO=0.")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--username", default="admin", help="Demo superuser (default: %(default)r)")
        parser.add_argument("--password", default=None,
                            help="Its password when it is created (default: $DEMO_PASSWORD, else 'admin')")
        parser.add_argument("--no-jobs", action="store_true", help="Do not enqueue demo jobs")

    def handle(self, *args: Any, username: str, password: str | None, no_jobs: bool, **options: Any) -> None:
        if not settings.DEMO:
            self.stdout.write("DEMO=0: no demo superuser, API token or jobs")
            return
        password = password if password is not None else os.environ.get("DEMO_PASSWORD", "admin")
        if not username.strip():
            raise CommandError("--username must not be empty")
        if not password:
            raise CommandError("the demo password must not be empty")
        with transaction.atomic():
            user, created = self.create_superuser(username, password)
            token, key = api_token_create(user=user, name="demo") if created else (None, "")
            if token is not None:
                audit_record(actor=cli_actor("bootstrap_demo"), action="token_create", count=1,
                             target=f"token {token.prefix}", detail=f"'demo' for {username}, every scope")
        if created:
            self.stdout.write(f"created superuser {username!r}")
        else:
            self.stdout.write(f"user {username!r} exists: left as it is (password, rights, tokens); "
                              f"no new API token (manage.py create_api_token {username} makes one)")
        if created and not no_jobs:  # a later run changes nothing: no more demo jobs either
            self.enqueue_demo_jobs(user)
        if token is not None:
            self.stdout.write(f"API token 'demo' for {username} ({token.prefix}…); shown only now:")
            self.stdout.write(key)

    @staticmethod
    def create_superuser(username: str, password: str) -> tuple[AbstractBaseUser, bool]:
        """The user named ``username``: created as a superuser, or as it already was (never changed)."""
        User = get_user_model()
        user, created = User._default_manager.get_or_create(**{User.USERNAME_FIELD: username})
        if created:
            user.is_staff = user.is_superuser = user.is_active = True
            user.set_password(password)
            user.save()
        return user, created

    def enqueue_demo_jobs(self, user: AbstractBaseUser) -> None:
        registered = {jt.name for jt in all_job_types()}
        for type_name, payload in DEMO_JOBS:
            if type_name not in registered:
                self.stdout.write(f"skipped {type_name} (not registered; set JOBS_DEMO_TYPES=1)")
                continue
            try:
                # A fixed unique key: running again while the last demo jobs are live adds none.
                result = job_enqueue(type=type_name, payload=payload, unique_key=f"bootstrap_demo:{type_name}",
                                     source=JobSource.COMMAND, source_detail="bootstrap_demo", created_by=user)
            except JobTypeError as exc:
                raise CommandError(f"demo job {type_name} was refused:\n{field_errors_text(exc)}") from None
            state = "enqueued" if result.created else "already live"
            self.stdout.write(f"{state} {type_name} {result.job.id} ({result.job.status})")
