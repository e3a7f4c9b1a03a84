"""Typed readers for environment variables.

Every reader fails at start-up with ImproperlyConfigured naming the variable,
so a typo in a deployment is reported once and clearly, not as a confusing
error the first time a job runs.
"""
from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def env_float(name: str, default: float | None, *, minimum: float = 0.0) -> float | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum:g}")
    return value


def env_int(name: str, default: int | None, *, minimum: int = 0) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def load_run_env(path: Path) -> bool:
    """Let a second shell's ``manage.py`` find ``make run``'s servers: while it runs, devstack/run.py
    writes their URLs (and its DEBUG and SECRET_KEY) to ``var/run.env``. Read only when neither
    DATABASE_URL nor REDIS_URL is set, so a configured deployment never looks at it."""
    if os.environ.get("DATABASE_URL") or os.environ.get("REDIS_URL") or not path.is_file():
        return False
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip():
            os.environ.setdefault(name.strip(), value.strip())
    return True
