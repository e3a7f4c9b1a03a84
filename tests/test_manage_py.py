"""`manage.py` answers a setup problem with one line and an exit code, never a traceback (issue 12, item 1)."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True,
                          text=True, timeout=60)


def test_a_missing_secret_key_is_one_line_and_exit_2() -> None:
    result = manage("queue_stats", DATABASE_URL="postgres://postgres@127.0.0.1:1/x")
    assert result.returncode == 2
    assert result.stderr.strip() == "configuration error: SECRET_KEY must be set when DEBUG is off"


def test_an_unreachable_database_is_one_line_and_exit_1() -> None:
    result = manage("queue_stats", DEBUG="1", DATABASE_URL="postgres://postgres@127.0.0.1:1/x",
                    REDIS_URL="redis://127.0.0.1:1/0")
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("cannot reach PostgreSQL at 127.0.0.1:1 (")
    assert len(result.stderr.strip().splitlines()) == 1 and "make run" in result.stderr
