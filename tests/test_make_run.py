"""`make run`'s supervisor (devstack.run) end to end, on the suite's PostgreSQL and Redis.

The fresh-machine path (embedded servers) is checked by hand before a release;
this test keeps the rest honest on every run: the banner shows a working API
token, the web answers, a job goes through the API to a worker and back, and
Ctrl-C stops every process the supervisor started.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest

from devstack.services import free_port
from tests.conftest import ROOT, database_url, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _request(url: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_make_run_serves_admin_and_api_then_ctrl_c_stops_everything(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url(), "PORT": str(port), "WORKER_SHUTDOWN_TIMEOUT": "2"}
    log = tmp_path / "run.log"
    with log.open("w") as out:
        supervisor = subprocess.Popen([sys.executable, "-m", "devstack.run"], cwd=ROOT, env=env, stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: supervisor.poll() is not None or "The job queue is running." in log.read_text(),
                 timeout=90, message="the banner")
        banner = log.read_text()
        assert supervisor.poll() is None, banner
        token = re.search(r"API token: +(jq_\S+)", banner)
        assert token, banner
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/admin/login/", timeout=10) as response:
            assert response.status == 200

        status, job = _request(f"{base}/api/jobs", token[1], {"type": "demo.noop", "payload": {}})
        assert status == 202
        wait_for(lambda: _request(f"{base}/api/jobs/{job['id']}", token[1])[1]["status"] == "completed",
                 timeout=30, message="the job to complete")

        # A second shell, with nothing set, finds this run's servers (var/run.env) as the README says.
        second_shell = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
        stats = subprocess.run([sys.executable, "manage.py", "queue_stats"], cwd=ROOT, env=second_shell,
                               capture_output=True, text=True, timeout=60)
        assert stats.returncode == 0 and "default" in stats.stdout, stats.stderr
        waited = subprocess.run([sys.executable, "manage.py", "enqueue_job", "demo.noop", "--wait",
                                 "--wait-timeout", "30"], cwd=ROOT, env=second_shell, capture_output=True,
                                text=True, timeout=60)
        assert waited.returncode == 0 and "completed" in waited.stdout, (waited.stdout, waited.stderr)

        # A worker killed (SIGKILL, as the OOM killer would) comes back, and jobs still run.
        worker = next(p for p in psutil.Process(supervisor.pid).children(recursive=True)
                      if p.cmdline()[-1] == "run_worker")
        worker.kill()
        wait_for(lambda: "restarted" in log.read_text(), timeout=20, message="the supervisor to restart the worker")
        assert supervisor.poll() is None
        status, job = _request(f"{base}/api/jobs", token[1], {"type": "demo.noop", "payload": {}})
        wait_for(lambda: _request(f"{base}/api/jobs/{job['id']}", token[1])[1]["status"] == "completed",
                 timeout=30, message="a job to complete after the restart")

        children = psutil.Process(supervisor.pid).children(recursive=True)
        assert len(children) >= 5  # web, two workers, the ai worker, the scheduler
        supervisor.send_signal(signal.SIGINT)  # Ctrl-C
        assert supervisor.wait(timeout=30) == 0, log.read_text()[-3000:]
        _, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"left running: {alive}"
        assert not (ROOT / "var" / "run.env").exists()  # a later shell does not find servers that are gone
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
            supervisor.wait()
