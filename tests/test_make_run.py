"""`make run` as a newcomer types it: a fresh checkout, nothing set, embedded PostgreSQL and Valkey.

The checkout is the repository's files (tracked, and new ones not ignored) copied into a temporary
directory: no var/, no database, no run.env. It shares this checkout's virtualenv (a symlink; file
times are kept, so make sees it up to date) because installing one costs minutes here; `.ci/run`
builds a fresh one for `make test` itself. Checked: the banner shows a working API token, the web
answers, a job goes through the API to a worker and back, a second shell with nothing set runs
`.venv/bin/python manage.py queue_stats` and `enqueue_job … --wait` against this run's servers, a
killed worker comes back, Ctrl-C stops every process, and a second `make run` changes nothing.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import urllib.request
from pathlib import Path

import psutil
import pytest

from devstack.services import free_port
from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "python").exists(),
                                reason="needs the checkout's .venv (make venv)")

#: The two shells' environments: what a login shell has, and no DATABASE_URL, REDIS_URL or SECRET_KEY.
BARE = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8"}


def _fresh_checkout(into: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)  # keeps mtimes: make must not think requirements changed
    (into / ".venv").symlink_to(ROOT / ".venv")
    return into


def _request(url: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


class MakeRun:
    """`make run` in its own process group, stopped the way a terminal's Ctrl-C stops it."""

    def __init__(self, checkout: Path, log: Path, port: int) -> None:
        self.log = log
        with log.open("w") as out:
            self.process = subprocess.Popen(["make", "run"], cwd=checkout, stdout=out, stderr=subprocess.STDOUT,
                                            env={**BARE, "PORT": str(port), "WORKER_SHUTDOWN_TIMEOUT": "2"},
                                            start_new_session=True)

    def text(self) -> str:
        return self.log.read_text()

    def banner(self) -> str:
        wait_for(lambda: self.process.poll() is not None or "The job queue is running." in self.text(),
                 timeout=180, message="the banner")
        assert self.process.poll() is None, self.text()
        return self.text()

    def ctrl_c(self) -> None:
        started = psutil.Process(self.process.pid).children(recursive=True)
        os.killpg(self.process.pid, signal.SIGINT)
        self.process.wait(timeout=60)
        _, alive = psutil.wait_procs(started, timeout=15)
        assert not alive, f"left running: {alive}\n{self.text()[-3000:]}"
        assert "stopped" in self.text().splitlines()[-1], self.text()[-2000:]

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _manage(checkout: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A second shell in the checkout, nothing set: `.venv/bin/python manage.py …` as the README says."""
    return subprocess.run([".venv/bin/python", "manage.py", *args], cwd=checkout, env=BARE, capture_output=True,
                          text=True, timeout=90)


def _people(checkout: Path) -> str:
    """Users (name, password hash) and live API tokens, as one line to compare across runs."""
    shell = _manage(checkout, "shell", "-v", "0", "-c", (
        "from django.contrib.auth.models import User; from jobs.models import ApiToken; "
        "print(sorted(User.objects.values_list('username', 'password')), "
        "sorted(ApiToken.objects.filter(revoked_at=None).values_list('prefix', flat=True)))"))
    assert shell.returncode == 0 and "admin" in shell.stdout, shell.stderr
    return shell.stdout.strip()


def test_make_run_in_a_fresh_checkout_with_nothing_set(tmp_path: Path) -> None:
    checkout = _fresh_checkout(tmp_path / "checkout")
    port = free_port()
    run = MakeRun(checkout, tmp_path / "run.log", port)
    try:
        banner = run.banner()
        token = re.search(r"API token: +(jq_\S+)", banner)
        assert token, banner
        assert re.search(r"Database: +postgres(ql)?://\S+@127\.0\.0\.1:\d+/", banner), banner  # embedded
        assert re.search(r"Redis: +redis://\S*127\.0\.0\.1:\d+", banner), banner
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/admin/login/", timeout=10) as response:
            assert response.status == 200
        status, job = _request(f"{base}/api/jobs", token[1], {"type": "demo.noop", "payload": {}})
        assert status == 202
        wait_for(lambda: _request(f"{base}/api/jobs/{job['id']}", token[1])[1]["status"] == "completed",
                 timeout=30, message="the job to complete")

        stats = _manage(checkout, "queue_stats")
        assert stats.returncode == 0 and "default" in stats.stdout, stats.stderr
        assert stats.stderr == "", stats.stderr  # no log lines, no traceback
        waited = _manage(checkout, "enqueue_job", "demo.noop", "--wait", "--wait-timeout", "30")
        assert waited.returncode == 0 and "completed" in waited.stdout, (waited.stdout, waited.stderr)

        # A worker killed (SIGKILL, as the OOM killer would) comes back, and jobs still run.
        worker = next(p for p in psutil.Process(run.process.pid).children(recursive=True)
                      if p.cmdline()[-1] == "run_worker")
        worker.kill()
        wait_for(lambda: "restarted" in run.text(), timeout=20, message="the supervisor to restart the worker")
        status, job = _request(f"{base}/api/jobs", token[1], {"type": "demo.noop", "payload": {}})
        wait_for(lambda: _request(f"{base}/api/jobs/{job['id']}", token[1])[1]["status"] == "completed",
                 timeout=30, message="a job to complete after the restart")
        before = json.loads(_manage(checkout, "queue_stats", "--json").stdout)
        people_before = _people(checkout)
        assert len(psutil.Process(run.process.pid).children(recursive=True)) >= 7  # + web, 3 workers, scheduler
        run.ctrl_c()
        assert not (checkout / "var" / "run.env").exists()  # a later shell does not find servers that are gone
        gone = _manage(checkout, "queue_stats")
        assert gone.returncode != 0 and len(gone.stderr.strip().splitlines()) == 1, gone.stderr  # one line

        # A second `make run` keeps the data and changes nothing: no new token, user or demo jobs.
        run = MakeRun(checkout, tmp_path / "run-2.log", port)
        again = run.banner()
        assert not re.search(r"API token: +jq_", again), again
        after = json.loads(_manage(checkout, "queue_stats", "--json").stdout)
        def jobs_per_queue(stats: list[dict]) -> dict[str, int]:  # demo jobs may have moved on: count them all
            return {q["name"]: sum(q["counts"].values()) for q in stats}

        assert jobs_per_queue(after) == jobs_per_queue(before)
        assert _people(checkout) == people_before
        assert _request(f"http://127.0.0.1:{port}/api/jobs?limit=1", token[1])[0] == 200  # the old token still works
        run.ctrl_c()
    finally:
        run.kill()
