import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize(
    ("variable", "value"),
    [("JOB_TIMEOUT", "soon"), ("JOB_MAX_ATTEMPTS", "0"), ("WORKER_SHUTDOWN_TIMEOUT", "-1"), ("DEBUG", "maybe"),
     ("DATABASE_URL", "mysql://x@y/z"), ("REDIS_URL", "http://x")],
)
def test_invalid_environment_fails_at_start_naming_the_variable(variable, value):
    env = {"PATH": "/usr/bin:/bin", "SECRET_KEY": "x", variable: value}
    proc = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert variable in proc.stderr


def test_secret_key_is_required_without_debug():
    env = {"PATH": "/usr/bin:/bin", "DEBUG": "0"}
    proc = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and "SECRET_KEY" in proc.stderr
