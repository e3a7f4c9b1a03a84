"""Small filters for the dashboard templates (no django.contrib.humanize in INSTALLED_APPS)."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.filter
def get(mapping: Any, key: Any) -> Any:
    """``counts|get:state``"""
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def intcomma_plain(value: Any) -> str:
    """1234567 -> 1,234,567 (locale-independent, like the page's script)."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "" if value is None else str(value)


@register.filter
def isoformat(value: datetime | None) -> str:
    return value.isoformat() if value else ""


@register.filter
def short_id(value: Any) -> str:
    return str(value)[:8]


@register.filter
def seconds(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.2f} s"
    return f"{value / 60:.1f} min"


@register.filter
def percent(value: float | None) -> str:
    """0.0412 -> 4.1 % (a share; "–" when there is none)."""
    return "–" if value is None else f"{value * 100:.1f} %"


_CODE = re.compile(r"``(.+?)``|`([^`]+)`")


@register.filter
def docstring(text: str | None) -> SafeString:
    """A job type's description as written in its docstring: ``code`` and `code` shown as code, not backticks."""
    escaped = escape(text or "")
    return mark_safe(_CODE.sub(lambda m: f"<code>{m.group(1) or m.group(2)}</code>", escaped))  # noqa: S308 (escaped above)

