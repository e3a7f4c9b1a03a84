"""API bearer tokens: shown once at creation, stored only as a SHA-256 digest.

A fast hash is right here (unlike passwords): tokens are 256 random bits, so
there is nothing to brute-force, and every API call checks one.
"""
from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from jobs.models import ApiToken

TOKEN_PREFIX = "jq_"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_create(*, user: AbstractBaseUser, name: str = "default") -> tuple[ApiToken, str]:
    """Returns the row and the plain key; the key cannot be recovered later."""
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=key[:10], key_hash=_digest(key))
    return token, key


def api_token_get(key: str) -> ApiToken | None:
    """The active token for ``key``, its user loaded; records its use at most once a minute."""
    token = ApiToken.objects.select_related("user").filter(key_hash=_digest(key)).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def api_token_authenticate(key: str) -> AbstractBaseUser | None:
    token = api_token_get(key)
    return None if token is None else token.user
