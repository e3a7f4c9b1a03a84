"""Create an API bearer token for a user; the key is printed once, alone on the last line."""
from __future__ import annotations

import argparse
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from jobs.api.tokens import api_token_create, token_scopes_validate
from jobs.core.access import SCOPES, person_denial, token_permissions
from jobs.core.errors import JobTypeError
from jobs.engine.audit import audit_record
from jobs.management.cli import EXIT_INVALID, cli_actor, non_negative_float


def scope_list(value: str) -> list[str]:
    try:
        return token_scopes_validate(part.strip() for part in value.split(",") if part.strip())
    except JobTypeError as exc:
        raise argparse.ArgumentTypeError(exc.errors[0]["message"]) from None


class Command(BaseCommand):
    help = ("Create an API token for a staff user and print its key (shown only this once, alone on the last "
            "line). The token can do what both its scopes and its user's permissions allow.")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("username", help="Existing staff user the token acts as")
        parser.add_argument("--name", default="cli", help="Label to recognise the token by (default: %(default)r)")
        parser.add_argument("--scopes", type=scope_list, default=list(SCOPES),
                            help="Comma-separated, of read, enqueue, act (default: all three)")
        parser.add_argument("--expires-in-days", type=non_negative_float, default=None,
                            help="Days until the token is refused; 0 never (default: API_TOKEN_DEFAULT_DAYS)")

    def handle(self, *args: Any, username: str, name: str, scopes: list[str], expires_in_days: float | None,
               **options: Any) -> None:
        if not name.strip() or len(name) > 100:
            raise CommandError("--name must be 1 to 100 characters", returncode=EXIT_INVALID)
        User = get_user_model()
        user = User._default_manager.filter(**{User.USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        if not user.is_active:
            raise CommandError(f"user {username!r} is inactive; its tokens would not authenticate")
        refused = person_denial(user)
        if refused is not None:
            raise CommandError(f"user {username!r} cannot use the API ({refused}); its tokens would be refused")
        allowed = token_permissions(user, scopes)
        with transaction.atomic():
            token, key = api_token_create(user=user, name=name, scopes=scopes, expires_in_days=expires_in_days)
            expiry = f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "never expires"
            audit_record(actor=cli_actor("create_api_token"), action="token_create", count=1,
                         target=f"token {token.prefix}", detail=f"{name!r} for {username}, scopes "
                         f"{','.join(token.scopes)}, {expiry}")
        self.stderr.write(f"Created API token {name!r} ({token.prefix}…) for {username}: scopes "
                          f"{','.join(token.scopes)}, {expiry}. It may use: {', '.join(allowed) or 'nothing yet'} "
                          "(its scopes within the user's permissions). Store the key now; it cannot be shown again.")
        self.stdout.write(key)
