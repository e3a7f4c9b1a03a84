"""Real tests of devstack.services: embedded PostgreSQL and Valkey really start.

No Django database fixture: each test starts its own private servers on free
ports in tmp_path and stops them, so they run beside the suite's servers.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import psycopg
import pytest
import redis

from devstack import services


def test_free_port_is_bindable() -> None:
    port = services.free_port()
    assert 1024 <= port <= 65535
    assert services.port_is_free(port)


def test_postgres_start_connect_stop_and_reuse_dir(tmp_path: Path) -> None:
    data = tmp_path / "pg"
    pg = services.start_postgres(data)
    try:
        assert pg.url == f"postgres://postgres@127.0.0.1:{pg.port}/jobqueue"
        with psycopg.connect(pg.url, autocommit=True) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("jobqueue",)
            assert conn.info.server_version >= 180000
            conn.execute("CREATE TABLE kept (v text)")
            conn.execute("INSERT INTO kept VALUES ('survives a restart')")
    finally:
        pg.stop()
    pg.stop()  # idempotent
    assert services.port_is_free(pg.port)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg.url, connect_timeout=2)

    # Second start on the same dir reuses the cluster (and its database).
    with services.start_postgres(data, port=services.free_port()) as again:
        with psycopg.connect(again.url) as conn:
            assert conn.execute("SELECT v FROM kept").fetchone() == ("survives a restart",)


def test_postgres_starts_over_stale_pid_file_from_killed_run(tmp_path: Path) -> None:
    data = tmp_path / "pg"
    pg = services.start_postgres(data, dbname="other")
    postmaster = psutil.Process(int((data / "postmaster.pid").read_text().split()[0]))
    os.kill(postmaster.pid, signal.SIGKILL)  # a crash: postmaster.pid stays behind
    postmaster.wait(10)
    assert (data / "postmaster.pid").exists()

    with services.start_postgres(data, dbname="other") as restarted:
        with psycopg.connect(restarted.url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("other",)
    pg.stop()  # the dead handle's stop is harmless

    # A pid file naming some unrelated live process is stale too.
    (data / "postmaster.pid").write_text(f"{os.getpid()}\n{data}\n")
    with services.start_postgres(data) as third:
        with psycopg.connect(third.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)


def test_postgres_start_replaces_leftover_running_server(tmp_path: Path) -> None:
    """A server whose owner died (SIGKILLed supervisor) is stopped, not doubled."""
    data = tmp_path / "pg"
    services.start_postgres(data)  # handle dropped: the "owner" is gone
    with services.start_postgres(data) as pg:
        with psycopg.connect(pg.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        postmasters = [p for p in psutil.process_iter(["name", "cmdline"])
                       if p.info["name"] == "postgres" and str(data.resolve()) in (p.info["cmdline"] or [])]
        assert len(postmasters) == 1


def test_valkey_ping_stop_and_restart_on_same_port_and_dir(tmp_path: Path) -> None:
    data = tmp_path / "valkey"
    kv = services.start_valkey(data)
    client = redis.Redis.from_url(kv.url, socket_timeout=2)
    try:
        assert kv.url == f"redis://127.0.0.1:{kv.port}/0"
        assert client.ping()
        client.set("k", "v")
    finally:
        kv.stop()
    kv.stop()  # idempotent
    with pytest.raises(redis.ConnectionError):
        client.ping()

    # "Redis is back": same port, same dir; not persistent, so it comes back empty.
    back = services.start_valkey(data, port=kv.port)
    try:
        assert back.url == kv.url
        assert client.ping()  # the old client reconnects
        assert client.get("k") is None
    finally:
        back.stop()
        client.close()


def test_valkey_persistent_keeps_data_across_restart_and_kill(tmp_path: Path) -> None:
    data = tmp_path / "valkey"
    kv = services.start_valkey(data, persistent=True)
    redis.Redis.from_url(kv.url).set("k", "v")
    kv.process.kill()  # crash, pid file left behind
    kv.process.wait()
    with services.start_valkey(data, port=kv.port, persistent=True) as back:
        assert redis.Redis.from_url(back.url).get("k") == b"v"


def test_port_in_use_is_refused(tmp_path: Path) -> None:
    with services.start_valkey(tmp_path / "a") as kv:
        assert not services.port_is_free(kv.port)
        with pytest.raises(RuntimeError, match="in use"):
            services.start_valkey(tmp_path / "b", port=kv.port)
