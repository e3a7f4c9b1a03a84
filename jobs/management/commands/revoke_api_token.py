"""Revoke API tokens by the prefix of their key (the part lists and the audit show)."""
from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from jobs.api.tokens import PREFIX_LENGTH, TOKEN_PREFIX, api_tokens_revoke
from jobs.engine.audit import audit_record
from jobs.management.cli import EXIT_INVALID, cli_actor
from jobs.models import ApiToken


class Command(BaseCommand):
    help = ("Revoke the API token whose key starts with PREFIX (its full prefix, as the admin lists it, "
            "e.g. jq_AbC1234); it is refused from its next request on. Exits 1 if none matched.")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("prefix", help=f"The token's prefix: its first {PREFIX_LENGTH} characters")

    def handle(self, *args: Any, prefix: str, **options: Any) -> None:
        # The whole prefix, not a part of it: "jq_" alone would revoke every token.
        if len(prefix) != PREFIX_LENGTH or not prefix.startswith(TOKEN_PREFIX):
            raise CommandError(f"a token prefix is {PREFIX_LENGTH} characters starting with {TOKEN_PREFIX!r}",
                               returncode=EXIT_INVALID)
        with transaction.atomic():
            revoked = api_tokens_revoke(ApiToken.objects.filter(prefix=prefix))
            if revoked:
                audit_record(actor=cli_actor("revoke_api_token"), action="token_revoke", count=len(revoked),
                             target=f"token {prefix}", detail=", ".join(f"{t.name!r} of {t.user}" for t in revoked))
        if not revoked:
            state = "already revoked" if ApiToken.objects.filter(prefix=prefix).exists() else "no such token"
            raise CommandError(f"{prefix}: {state}")
        for token in revoked:
            self.stdout.write(f"revoked {token.prefix}… {token.name!r} of {token.user}")
