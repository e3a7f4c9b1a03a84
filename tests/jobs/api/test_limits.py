"""Limits that stop one caller from tying up the service (issue 11, findings 9 and 10): API rate
limits per caller in Redis, login attempt limits, and a statement timeout on web requests."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import psycopg
import pytest
from django.test import Client, override_settings

from jobs.api.tokens import api_token_create
from jobs.models import QueueJob
from tests.conftest import database_url, make_user


def bearer(user: Any, name: str) -> Client:
    _, key = api_token_create(user=user, name=name)
    return Client(headers={"authorization": f"Bearer {key}"})


def enqueue(client: Client) -> int:
    return client.post("/api/jobs", json.dumps({"type": "demo.noop"}), content_type="application/json").status_code


@override_settings(API_RATE_LIMITS={"enqueue": "0.5/3", "bulk": "5/10", "act": "50/100", "read": "300/600"})
def test_enqueue_over_the_burst_is_answered_429_per_user(db: None) -> None:
    alice = make_user("alice", perms=("view_queuejob", "add_queuejob"))
    first, second = bearer(alice, "one"), bearer(alice, "two")  # two tokens, one budget
    assert [enqueue(first), enqueue(second), enqueue(first)] == [202, 202, 202]
    refused = second.post("/api/jobs", json.dumps({"type": "demo.noop"}), content_type="application/json")
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 2
    assert refused.json() == {"detail": "Too many requests."}
    assert QueueJob.objects.count() == 3
    assert first.get("/api/jobs").status_code == 200  # reads have a budget of their own
    bob = bearer(make_user("bob", perms=("view_queuejob", "add_queuejob")), "bob")
    assert enqueue(bob) == 202  # another caller is not held up


def test_login_is_locked_after_repeated_failures(db: None, settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    make_user("admin", perms=("view_queuejob",), password="right-password-1")
    client = Client()
    for _ in range(3):
        response = client.post("/admin/login/", {"username": "admin", "password": "guess"})
        assert response.status_code in (200, 429)
    locked = client.post("/admin/login/", {"username": "admin", "password": "right-password-1"})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.fixture
def short_statement_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_STATEMENT_TIMEOUT", "0.3")


def test_a_request_past_the_statement_timeout_gets_503(transactional_db: None, short_statement_timeout: None,
                                                       server: str) -> None:
    _, key = api_token_create(user=make_user("reader", perms=("view_queuejob",)), name="reader")
    request = urllib.request.Request(f"{server}/api/jobs", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    # Another session holds the table, as a slow query would: the request's statement waits, then
    # PostgreSQL cancels it at the web process's statement_timeout.
    with psycopg.connect(database_url()) as holder:
        holder.execute("LOCK TABLE jobs_queuejob IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=10)
        assert time.monotonic() - started < 5
        holder.rollback()
    assert answer.value.code == 503 and answer.value.headers["Retry-After"] == "5"
    assert "took too long" in json.loads(answer.value.read())["detail"]
