"""Servers and Django for the bench: real ones from the environment, or embedded ones.

The bench never touches the database or Redis db named in the environment:
it uses the same servers with its own database (``jobqueue_bench``, dropped
and recreated) and its own Redis db number (``BENCH_REDIS_DB``, default 11).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BENCH_DB = "jobqueue_bench"


@dataclass
class Stack:
    database_url: str
    redis_url: str
    embedded: bool
    env: dict[str, str]  # environment for child processes (and already applied to this one)


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=path))


def start_servers(stack: ExitStack) -> tuple[str, str, bool]:
    """(server DATABASE_URL, server REDIS_URL, embedded?) — embedded servers stop when ``stack`` closes."""
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if database_url and redis_url:
        return database_url, redis_url, False
    from devstack.services import start_postgres, start_valkey

    tmp = Path(tempfile.mkdtemp(prefix="jobqueue-bench-"))
    stack.callback(shutil.rmtree, tmp, True)
    if not database_url:
        print("bench: DATABASE_URL not set; starting an embedded PostgreSQL", flush=True)
        pg = start_postgres(tmp / "pg")
        stack.callback(pg.stop)
        database_url = pg.url
    if not redis_url:
        print("bench: REDIS_URL not set; starting an embedded Valkey", flush=True)
        kv = start_valkey(tmp / "valkey")
        stack.callback(kv.stop)
        redis_url = kv.url
    return database_url, redis_url, True


def recreate_database(database_url: str) -> str:
    """Drop and create ``jobqueue_bench`` on the server of ``database_url``; return its URL."""
    import psycopg
    from psycopg import sql

    admin_url = _with_path(database_url, "/postgres")
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(BENCH_DB)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(BENCH_DB)))
    return _with_path(database_url, f"/{BENCH_DB}")


def setup(stack: ExitStack) -> Stack:
    server_db, server_redis, embedded = start_servers(stack)
    database_url = recreate_database(server_db)
    redis_url = _with_path(server_redis, f"/{int(os.environ.get('BENCH_REDIS_DB', '11'))}")
    overrides = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "jobsite.settings",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-only-secret-key",
        "DEBUG": "0",  # DEBUG records every query: not what production runs
        "JOBS_DEMO_TYPES": "1",
        "LOG_LEVEL": "WARNING",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
    }
    os.environ.update(overrides)
    import django
    from django.core.management import call_command

    django.setup()
    from django.db import connections

    stack.callback(connections.close_all)  # before embedded servers stop (ExitStack runs callbacks LIFO)
    call_command("migrate", verbosity=0, interactive=False)
    return Stack(database_url=database_url, redis_url=redis_url, embedded=embedded, env=dict(os.environ))

