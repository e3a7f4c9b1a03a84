"""`make run`: the whole system in one terminal, with nothing to configure.

Steps: start embedded PostgreSQL / Valkey under var/ unless DATABASE_URL /
REDIS_URL are set; migrate; `bootstrap_demo` (demo superuser and API token
unless that user exists, a few jobs; DEMO=0: none); then run web, workers
and scheduler as children, prefix their output with their names, print a
banner (server URLs without their passwords) once the web answers, and on Ctrl-C
SIGTERM (or SIGHUP) stop it all in order: children first (they still need PostgreSQL
and Redis to finish their jobs), then the servers this run started.

Each child runs in its own session/process group, so a Ctrl-C at the terminal
reaches only this supervisor; it forwards SIGTERM to each child, which shuts
down gracefully (a worker finishes its job), and after
WORKER_SHUTDOWN_TIMEOUT + 5 s it SIGKILLs the whole group of any straggler,
so no grandchild is orphaned. A second Ctrl-C kills at once.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from devstack import services

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
PG_DEFAULT_PORT = 55432
VALKEY_DEFAULT_PORT = 56379
READY_TIMEOUT = 90.0
_NAME_WIDTH = 9
_out_lock = threading.Lock()
_COLORS = ["36", "32", "33", "35", "34", "96", "92", "93"]


class _Stoppable(Protocol):
    url: str

    def stop(self) -> None: ...


@dataclass(frozen=True)
class ProcSpec:
    """One long-running child: its console name, its argv, and whether a crash restarts it."""

    name: str
    argv: list[str]
    #: Workers and the scheduler come back after a crash (SIGKILL, OOM); the web server's death ends the run.
    restart: bool = True


def child_specs(python: str, port: int) -> list[ProcSpec]:
    """The processes of a deployment (docs/architecture.md), as `make run` starts them."""
    manage = [python, "manage.py"]
    return [
        ProcSpec("web", [python, "-m", "uvicorn", "jobsite.asgi:application",
                         "--host", "127.0.0.1", "--port", str(port), "--ws", "websockets-sansio",
                         "--timeout-graceful-shutdown", "5", "--lifespan", "off"], restart=False),  # Django has no lifespan
        ProcSpec("worker-1", [*manage, "run_worker"]),
        ProcSpec("worker-2", [*manage, "run_worker"]),
        ProcSpec("worker-ai", [*manage, "run_worker", "ai"]),
        ProcSpec("scheduler", [*manage, "run_scheduler"]),
    ]


def setup_steps(python: str) -> list[list[str]]:
    """One-shot commands run to completion before the children start."""
    return [
        [python, "manage.py", "migrate", "--noinput"],
        [python, "manage.py", "bootstrap_demo"],
    ]


# ------------------------------------------------------------------- console


def say(name: str, text: str, color: str | None = None) -> None:
    """Print one line as `name      | text`, whole lines only (threads share stdout)."""
    label = f"{name:<{_NAME_WIDTH}}"
    if color:
        label = f"\033[{color}m{label}\033[0m"
    _write(f"{label} | {text}\n")


def _write(text: str) -> None:
    """Write to stdout, ignoring a closed one (`make run | tee` killed by
    Ctrl-C): losing console lines must never abort the shutdown."""
    with _out_lock:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except (OSError, ValueError):
            pass


def _use_color() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


class _StopFlag:
    """Set by SIGINT/SIGTERM/SIGHUP; counts signals so a second one can escalate."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.count = 0

    def __call__(self, signum: int, frame: object) -> None:
        self.count += 1
        self.event.set()


# ------------------------------------------------------------------ children


class Child:
    """A started child process and the thread that relays its output."""

    def __init__(self, spec: ProcSpec, env: dict[str, str], color: str | None) -> None:
        self.spec, self.env, self.color = spec, env, color
        self.started = time.monotonic()
        self.name = spec.name
        self.popen = subprocess.Popen(
            spec.argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        assert self.popen.stdout is not None
        self.reader = threading.Thread(target=self._relay, args=(self.popen.stdout, color),
                                       name=f"relay-{self.name}", daemon=True)
        self.reader.start()

    def _relay(self, pipe: IO[bytes], color: str | None) -> None:
        for raw in iter(pipe.readline, b""):
            say(self.name, raw.decode("utf-8", "replace").rstrip("\r\n"), color)

    def kill_group(self) -> None:
        """SIGKILL the child's whole process group (itself and any leftovers)."""
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def stop_children(children: list[Child], grace: float, stop: _StopFlag) -> None:
    """SIGTERM each child, wait up to `grace` s, then SIGKILL what is left."""
    running = [c for c in children if c.popen.poll() is None]
    if running:
        say("devstack", f"stopping {', '.join(c.name for c in running)} "
                        f"(up to {grace:.0f}s; Ctrl-C again to kill now)")
    for child in running:
        try:
            child.popen.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
    signals_seen = stop.count
    deadline = time.monotonic() + grace
    reason = "did not stop in time"
    while any(c.popen.poll() is None for c in running):
        if stop.count > signals_seen:
            reason = "asked again to stop"
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for child in children:
        if child.popen.poll() is None:
            say("devstack", f"{child.name} {reason}; killing it")
        child.kill_group()
        child.popen.wait()
        child.reader.join(timeout=2)


def _http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except (urllib.error.URLError, OSError):
        return None


#: Restart delays after a crash: doubling from RESTART_FIRST up to RESTART_MAX, back to the first
#: once a child has run RESTART_STABLE seconds (as supervisord and PM2 do).
RESTART_FIRST = 1.0
RESTART_MAX = 30.0
RESTART_STABLE = 60.0


def supervise(children: list[Child], ready_url: str, stop: _StopFlag,
              on_ready: Callable[[], None]) -> int:
    """Wait for a stop signal (exit 0); restart crashed workers and the scheduler with backoff.

    A web server that dies ends the run (exit 1). Calls `on_ready` once
    `ready_url` answers HTTP below 500.
    """
    ready = False
    warned = False
    deadline = time.monotonic() + READY_TIMEOUT
    delays: dict[str, float] = {}
    restart_at: dict[int, float] = {}  # index in children -> when to start it again
    while not stop.event.is_set():
        now = time.monotonic()
        for index, child in enumerate(children):
            if index in restart_at:
                if now >= restart_at[index]:
                    del restart_at[index]
                    children[index] = Child(child.spec, child.env, child.color)
                    say("devstack", f"{child.name} restarted")
                continue
            code = child.popen.poll()
            if code is None:
                continue
            child.reader.join(timeout=2)
            if not child.spec.restart:
                say("devstack", f"{child.name} exited unexpectedly (code {code}); stopping everything")
                return 1
            ran = now - child.started
            delay = RESTART_FIRST if ran >= RESTART_STABLE else min(delays.get(child.name, 0) * 2 or RESTART_FIRST,
                                                                    RESTART_MAX)
            delays[child.name] = delay
            restart_at[index] = now + delay
            say("devstack", f"{child.name} exited (code {code}) after {ran:.0f}s; restarting in {delay:g}s")
        if not ready:
            status = _http_status(ready_url)
            if status is not None and status < 500:
                ready = True
                on_ready()
            elif not warned and time.monotonic() > deadline:
                warned = True
                say("devstack", f"{ready_url} still not answering after {READY_TIMEOUT:.0f}s "
                                f"(last status: {status}); still waiting")
        stop.event.wait(0.3 if not ready or restart_at else 0.5)
    return 0


# ---------------------------------------------------------------------- main


def _preferred_port(default: int) -> int:
    return default if services.port_is_free(default) else services.free_port()


def start_services(env: dict[str, str], started: list[_Stoppable]) -> None:
    """Start embedded servers for whichever of DATABASE_URL / REDIS_URL is unset."""
    if not env.get("DATABASE_URL"):
        pg_dir = VAR / "postgres"
        services.stop_stale_postgres(pg_dir)  # before choosing: a leftover holds our port
        pg = services.start_postgres(pg_dir, _preferred_port(PG_DEFAULT_PORT))
        started.append(pg)
        env["DATABASE_URL"] = pg.url
        say("devstack", f"embedded PostgreSQL at {pg.url} (data and log in {pg_dir.relative_to(ROOT)})")
    else:
        say("devstack", f"using DATABASE_URL from the environment: {mask_password(env['DATABASE_URL'])}")
        say("devstack", "not the embedded database: bootstrap_demo adds the demo superuser (unless a user of "
                        "that name exists, which is left as it is) and a few jobs to it; DEMO=0 adds nothing")
    if not env.get("REDIS_URL"):
        kv_dir = VAR / "valkey"
        services.stop_stale_valkey(kv_dir)
        kv = services.start_valkey(kv_dir, _preferred_port(VALKEY_DEFAULT_PORT), persistent=True)
        started.append(kv)
        env["REDIS_URL"] = kv.url
        say("devstack", f"embedded Valkey at {kv.url} (append-only file in {kv_dir.relative_to(ROOT)})")
    else:
        say("devstack", "using REDIS_URL from the environment")


def mask_password(url: str) -> str:
    """``url`` with the password of its user part replaced by ``***`` (banners and logs get read by others)."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def development_secret_key() -> str:
    """SECRET_KEY for `make run`'s processes: random once, then kept in var/ so logins survive a restart."""
    path = VAR / "secret_key"
    if not path.exists():
        VAR.mkdir(exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # readable by its owner only
        except FileExistsError:
            pass  # another run made it just now
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


RUN_ENV = VAR / "run.env"


def write_run_env(env: dict[str, str]) -> None:
    """Where this run's servers are, for ``manage.py`` in another shell (read by jobsite/env.py's
    load_run_env); removed when the run stops. Readable by its owner only: it holds the secret key."""
    VAR.mkdir(exist_ok=True)
    fd = os.open(RUN_ENV, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.writelines(f"{name}={env[name]}\n" for name in ("DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY"))


def api_token_in(output: str) -> str:
    """The API key bootstrap_demo printed (its last line starting with jobs.tokens.TOKEN_PREFIX), or ""."""
    keys = [line.strip() for line in output.splitlines() if line.startswith("jq_")]
    return keys[-1] if keys else ""


def banner(port: int, env: dict[str, str], token: str = "") -> str:
    """What a newcomer needs, once the web answers. ``token``: the one bootstrap_demo made with the demo user."""
    base = f"http://127.0.0.1:{port}"
    if token:
        login = f"admin / {env.get('DEMO_PASSWORD', 'admin')}"
    else:  # the demo user existed already (its password is its own), or DEMO=0
        login = "an existing user (bootstrap_demo created none this time)"
    rows = [
        ("Dashboard", f"{base}/admin/queues/"),
        ("Admin", f"{base}/admin/"),
        ("API docs", f"{base}/api/docs"),
        ("Login", login),
        ("API token", token or "none new (python manage.py create_api_token admin)"),
        ("Database", mask_password(env["DATABASE_URL"])),
        ("Redis", mask_password(env["REDIS_URL"])),
        ("Stop", "Ctrl-C"),
    ]
    line = "=" * 64
    body = "\n".join(f"  {k + ':':<11}{v}" for k, v in rows)
    return f"\n{line}\n  The job queue is running.\n{body}\n{line}\n"


def main() -> int:
    os.chdir(ROOT)
    stop = _StopFlag()
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)  # terminal closed: clean up, don't orphan

    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "jobsite.settings")
    env.setdefault("DEBUG", "1")  # a developer's machine
    if not env.get("SECRET_KEY"):
        env["SECRET_KEY"] = development_secret_key()
    env["PYTHONUNBUFFERED"] = "1"
    port = int(env.get("PORT") or 8000)
    grace = float(env.get("WORKER_SHUTDOWN_TIMEOUT") or 30) + 5
    python = sys.executable

    started: list[_Stoppable] = []
    children: list[Child] = []
    try:
        start_services(env, started)
        write_run_env(env)
        token = ""
        for argv in setup_steps(python):
            if stop.event.is_set():
                return 0
            say("devstack", "running " + " ".join(argv[1:]))
            step = subprocess.run(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
            _write(step.stdout)
            token = api_token_in(step.stdout) or token  # for the banner, where a newcomer looks
            code = step.returncode
            if stop.event.is_set():
                return 0
            if code != 0:
                say("devstack", f"`{' '.join(argv[1:])}` failed (exit {code}); stopping")
                return code
        if not services.port_is_free(port):
            say("devstack", f"port {port} is in use; set PORT=<free port> and try again")
            return 1
        colors = iter(_COLORS) if _use_color() else None
        for spec in child_specs(python, port):
            children.append(Child(spec, env, next(colors, None) if colors else None))
        say("devstack", f"started {', '.join(c.name for c in children)}; waiting for the web")
        return supervise(children, f"http://127.0.0.1:{port}/admin/login/", stop,
                         lambda: _write(banner(port, env, token)))
    except Exception as exc:  # report, then still clean up below
        say("devstack", f"error: {exc}")
        return 1
    finally:
        RUN_ENV.unlink(missing_ok=True)
        stop_children(children, grace, stop)
        for handle in reversed(started):
            try:
                handle.stop()
            except Exception as exc:
                say("devstack", f"could not stop {handle.url}: {exc}")
        say("devstack", "stopped")


if __name__ == "__main__":
    sys.exit(main())
