"""Shared fixtures: real PostgreSQL, real Redis, real worker processes.

The suite uses the PostgreSQL and Redis named by DATABASE_URL / REDIS_URL
(`make test` starts embedded ones when they are unset). Tests that stop or
flush Redis start a private Valkey of their own (``private_redis``).
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent
#: Debian's Chromium: Playwright's own browser download fails here, so browser tests launch this one.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def make_user(username: str, *, perms: tuple[str, ...] = ("view_queuejob",), staff: bool = True,
              password: str | None = None) -> Any:
    """A user with the given ``jobs`` permissions; a password only to log in through a form (hashing costs ~0.2 s)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user(username, password=password, is_staff=staff)
    user.user_permissions.add(*Permission.objects.filter(codename__in=perms, content_type__app_label="jobs"))
    return user


def database_url() -> str:
    """URL of the database the tests run against (pytest-django's test_ database)."""
    from django.db import connection

    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture(autouse=True)
def _clean_redis() -> Iterator[None]:
    """Each test starts with an empty Redis database (only the configured db number)."""
    from jobs.core.transport import redis_connection

    redis_connection().flushdb()
    yield


class Processes:
    """Starts project processes (workers, scheduler) against the test database and stops them."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen] = []

    def env(self, **extra: str) -> dict[str, str]:
        env = {**os.environ, "DATABASE_URL": database_url(), "PYTHONUNBUFFERED": "1", **extra}
        return env

    def start(self, *args: str, env: dict[str, str] | None = None, name: str = "proc") -> subprocess.Popen:
        log = open(self.tmp_path / f"{name}-{len(self.procs)}.log", "w")
        proc = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env or self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        proc.log_path = log.name  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def worker(self, *queues: str, env: dict[str, str] | None = None, **options: str) -> subprocess.Popen:
        args = ["run_worker", *queues]
        for key, value in options.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        return self._started(self.start(*args, env=env, name="worker"), "listening on")

    def scheduler(self, env: dict[str, str] | None = None, **options: str) -> subprocess.Popen:
        """A scheduler whose loop runs: timing tests must not measure its start-up (seen in CI)."""
        args = ["run_scheduler"]
        for key, value in options.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        return self._started(self.start(*args, env=env, name="scheduler"), "event=scheduler_started")

    @staticmethod
    def _started(proc: subprocess.Popen, line: str) -> subprocess.Popen:
        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"process exited with {proc.returncode}: {Path(proc.log_path).read_text()}")
            return line in Path(proc.log_path).read_text()

        wait_for(ready, timeout=20, message=f"{line!r} in the process's log")
        return proc

    @staticmethod
    def output(proc: subprocess.Popen) -> str:
        return Path(proc.log_path).read_text()

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def processes(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for proc in procs.procs:  # what the workers and schedulers said, for the failure report
            print(f"\n--- {' '.join(proc.args[2:])} (exit {proc.returncode}) ---\n{procs.output(proc)[-5000:]}")


@pytest.fixture
def server(processes: Processes, tmp_path: Path) -> Iterator[str]:
    """uvicorn serving jobsite.asgi (HTTP and WebSockets) against the test database, on a free port."""
    from devstack.services import free_port, port_is_free

    port = free_port()
    log = open(tmp_path / "uvicorn.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "jobsite.asgi:application", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=processes.env(ALLOWED_HOSTS="127.0.0.1,localhost"), stdout=log, stderr=subprocess.STDOUT,
    )
    proc.log_path = log.name  # type: ignore[attr-defined]
    processes.procs.append(proc)  # stopped (and its log printed on failure) with the workers
    wait_for(lambda: proc.poll() is not None or not port_is_free(port), timeout=20, message="uvicorn to listen")
    assert proc.poll() is None, Path(log.name).read_text()
    yield f"http://127.0.0.1:{port}"


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Any]:
    """A Valkey server of this test's own, on a free port; safe to stop, flush or break."""
    from devstack.services import start_valkey

    server = start_valkey(tmp_path / "valkey")
    yield server
    server.stop()
