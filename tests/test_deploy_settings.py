"""Production settings (issue 11, finding 16): `check --deploy` is clean with .env.example, HTTPS is enforced.

Everything runs as a deployment would: `manage.py` and uvicorn as processes
whose environment is .env.example's (its empty secrets filled in, as its
first lines ask).
"""
from __future__ import annotations

import http.client
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from devstack.services import free_port, port_is_free
from tests.conftest import ROOT, Processes, database_url, wait_for
from tests.test_compose import SECRETS, env_example


def deployment_env(**extra: str) -> dict[str, str]:
    """.env.example with its secrets generated, plus what docker-compose.yml adds (the server URLs)."""
    values = env_example()
    assert {key for key, value in values.items() if not value} == set(SECRETS), "only the secrets are left blank"
    values.update({key: secrets.token_urlsafe(50) for key in SECRETS})
    return {"PATH": "/usr/bin:/bin", **values,
            "DATABASE_URL": f"postgres://jobqueue:{values['POSTGRES_PASSWORD']}@postgres:5432/jobqueue",
            "REDIS_URL": f"redis://:{values['REDIS_PASSWORD']}@redis:6379/0", **extra}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def test_check_deploy_reports_nothing_with_the_env_example() -> None:
    proc = manage("check", "--deploy", "--fail-level", "WARNING", env=deployment_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "System check identified no issues (0 silenced)." in proc.stdout


def test_check_deploy_warns_without_https_settings() -> None:
    """The check is a real one: the defaults (made for http://127.0.0.1) fail it."""
    env = {key: value for key, value in deployment_env().items()
           if not key.startswith(("HTTPS_", "HSTS_", "PROXY_"))}
    proc = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert proc.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in proc.stderr


def test_debug_without_a_secret_key_gets_a_random_one_not_a_fixed_one() -> None:
    env = {"PATH": "/usr/bin:/bin", "DEBUG": "1"}
    keys = [manage("shell", "-c", "from django.conf import settings; print(settings.SECRET_KEY)",
                   env=env).stdout.strip() for _ in range(2)]
    assert keys[0] != keys[1] and len(keys[0]) >= 50, keys


@pytest.mark.django_db(transaction=True)
def test_https_only_redirects_plain_http_and_marks_cookies_secure(processes: Processes, tmp_path: Path) -> None:
    port = free_port()
    env = deployment_env(DATABASE_URL=database_url(), REDIS_URL=settings.REDIS_URL,
                         ALLOWED_HOSTS="127.0.0.1", PYTHONUNBUFFERED="1")
    log = open(tmp_path / "uvicorn.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "jobsite.asgi:application", "--host", "127.0.0.1",
                             "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    proc.log_path = log.name  # type: ignore[attr-defined]
    processes.procs.append(proc)
    wait_for(lambda: proc.poll() is not None or not port_is_free(port), timeout=20, message="uvicorn to listen")

    def get(path: str, **headers: str) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", path, headers={"Host": "127.0.0.1", **headers})
        response = connection.getresponse()
        response.read()
        connection.close()
        return response

    plain = get("/admin/login/")
    assert plain.status == 301 and plain.getheader("Location") == "https://127.0.0.1/admin/login/"
    proxied = get("/admin/login/", **{"X-Forwarded-Proto": "https"})  # as the TLS proxy passes it on
    assert proxied.status == 200
    assert proxied.getheader("Strict-Transport-Security") == "max-age=31536000; includeSubDomains; preload"
    assert "; Secure" in proxied.getheader("Set-Cookie", "")
    assert get("/healthz").status in (200, 503)  # probes inside the network are not redirected
