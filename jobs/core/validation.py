"""Strings PostgreSQL cannot store: caught as field errors instead of failing as a 500."""
from __future__ import annotations

from typing import Any


def text_problem(value: str) -> str | None:
    """Why PostgreSQL would refuse this string, or None when it is storable."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (no lone surrogates)"
    return None


def text_errors(value: Any, field: str) -> list[dict[str, str]]:
    """Field errors for every unstorable string (keys included) inside a JSON value.

    Iterative, not recursive: the body parser accepts nesting close to the
    recursion limit, and this walk must not be the thing that hits it.
    """
    errors: list[dict[str, str]] = []
    stack: list[tuple[Any, str]] = [(value, field)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                errors.append({"field": path, "message": problem, "type": "invalid_text"})
        elif isinstance(item, dict):
            for key, child in item.items():
                problem = text_problem(key)
                if problem:
                    errors.append({"field": path, "message": f"key {key!r} {problem}", "type": "invalid_text"})
                else:
                    stack.append((child, f"{path}.{key}"))
        elif isinstance(item, list):
            stack.extend((child, f"{path}.{index}") for index, child in enumerate(item))
    return errors
