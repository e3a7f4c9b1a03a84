"""API bearer tokens: shown once at creation, stored only as a SHA-256 digest.

A fast hash is right here (unlike passwords): tokens are 256 random bits, so
there is nothing to brute-force, and every API call checks one.

A token acts as its user narrowed to its scopes (jobs/core/access.py) until
it expires (``API_TOKEN_DEFAULT_DAYS`` unless given) or is revoked (the admin's
*API tokens* page, or ``manage.py revoke_api_token``).
"""
from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from jobs.core.access import SCOPES
from jobs.core.errors import JobTypeError
from jobs.models import ApiToken

TOKEN_PREFIX = "jq_"
#: Characters of the key kept in clear (``jq_`` and 7 more): enough to tell tokens apart in lists and the audit.
PREFIX_LENGTH = 10


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def token_expiry(expires_in_days: float | None = None) -> datetime | None:
    """When a token made now expires: None means API_TOKEN_DEFAULT_DAYS; 0 days (here or there) is never."""
    days = settings.API_TOKEN_DEFAULT_DAYS if expires_in_days is None else expires_in_days
    return timezone.now() + timedelta(days=days) if days else None


def token_scopes_validate(scopes: Iterable[str]) -> list[str]:
    """The scopes in their canonical order; JobTypeError naming the field for an unknown or empty set."""
    given = list(scopes)
    unknown = sorted(set(given) - set(SCOPES))
    if unknown or not given:
        message = f"unknown scope(s) {', '.join(unknown)}" if unknown else "at least one scope is needed"
        raise JobTypeError(message, [{"field": "scopes", "message": f"{message}; scopes: {', '.join(SCOPES)}",
                                      "type": "value_error"}])
    return [scope for scope in SCOPES if scope in given]


def api_token_create(*, user: AbstractBaseUser, name: str = "default", scopes: Iterable[str] = SCOPES,
                     expires_in_days: float | None = None) -> tuple[ApiToken, str]:
    """Returns the row and the plain key; the key cannot be recovered later."""
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=key[:PREFIX_LENGTH], key_hash=_digest(key),
                                    scopes=token_scopes_validate(scopes), expires_at=token_expiry(expires_in_days))
    return token, key


def api_tokens_revoke(tokens: QuerySet[ApiToken]) -> list[ApiToken]:
    """Revoke those of ``tokens`` still live; returns those revoked now (revoking twice changes nothing).

    A revoked token is refused from its next request on.
    """
    ids = list(tokens.filter(revoked_at__isnull=True).values_list("pk", flat=True))
    ApiToken.objects.filter(pk__in=ids, revoked_at__isnull=True).update(revoked_at=timezone.now())
    return list(ApiToken.objects.filter(pk__in=ids).select_related("user").order_by("pk"))


def api_token_get(key: str) -> ApiToken | None:
    """The live token for ``key`` (not revoked, not expired, its user active), its user loaded.

    Records its use at most once a minute.
    """
    now = timezone.now()
    token = (ApiToken.objects.select_related("user")
             .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now), key_hash=_digest(key), revoked_at__isnull=True)
             .first())
    if token is None or not token.user.is_active:
        return None
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def api_token_authenticate(key: str) -> AbstractBaseUser | None:
    token = api_token_get(key)
    return None if token is None else token.user
