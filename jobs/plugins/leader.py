"""Leader election: a PostgreSQL session advisory lock held on a connection of its own.

Outside Django's (pooled) connections: if the leader dies its session ends,
the lock is released and a standby takes it on its next try.
"""
from __future__ import annotations

import logging

import psycopg
from django.db import connection

logger = logging.getLogger(__name__)

#: Arbitrary, fixed: the advisory lock key that marks the scheduler leader.
LEADER_LOCK_KEY = 7_413_001


class Leadership:
    def __init__(self, name: str) -> None:
        self.name = name
        self.is_leader = False
        self._conn: psycopg.Connection | None = None

    def hold(self) -> bool:
        """Whether this process leads now: keeps the lock it has, or tries to take it."""
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(**_lock_connection_params(), autocommit=True)
            self.is_leader = False
        if self.is_leader:
            self._conn.execute("SELECT 1")  # still our session, so still our lock
            return True
        row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", [LEADER_LOCK_KEY]).fetchone()
        self.is_leader = bool(row and row[0])
        if self.is_leader:
            logger.info("event=scheduler_leader holder=%s", self.name)
        return self.is_leader

    def drop(self) -> None:
        """End the lock's session: releases leadership at once, whatever state the session is in."""
        self.is_leader = False
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _lock_connection_params() -> dict[str, object]:
    """Django's connection parameters for the default database, without its pool."""
    params = connection.get_connection_params()
    params.pop("pool", None)
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.setdefault("connect_timeout", 5)
    return params
