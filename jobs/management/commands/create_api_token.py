"""Create an API bearer token for a user; the key is printed once, alone on the last line."""
from __future__ import annotations

import argparse
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from jobs.api.tokens import api_token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print its key (shown only this once, alone on the last line)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("username", help="Existing user the token acts as")
        parser.add_argument("--name", default="cli", help="Label to recognise the token by (default: %(default)r)")

    def handle(self, *args: Any, username: str, name: str, **options: Any) -> None:
        if not name.strip() or len(name) > 100:
            raise CommandError("--name must be 1 to 100 characters")
        User = get_user_model()
        user = User._default_manager.filter(**{User.USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        if not user.is_active:
            raise CommandError(f"user {username!r} is inactive; its tokens would not authenticate")
        token, key = api_token_create(user=user, name=name)
        self.stderr.write(f"Created API token {name!r} ({token.prefix}…) for {username}. "
                          "Store the key now; it cannot be shown again.")
        self.stdout.write(key)
