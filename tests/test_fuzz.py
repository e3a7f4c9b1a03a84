"""Property-based fuzzing (issue 11): whatever a caller sends, the API and the dashboard answer
without a server error, and a refused request creates no job.

Hypothesis builds requests shaped like real ones (known field names, job types and query
parameters) with values of every kind, so most cases get past the outer schema and reach the
validation and filters underneath. Runs in-process through Django's test client; the example
counts keep it to a few seconds.
"""
from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.api.tokens import api_token_create
from jobs.models import QueueJob
from tests.conftest import make_user

ALL = ("view_queuejob", "add_queuejob", "change_queuejob", "cancel_queuejob", "retry_queuejob", "pause_queue",
       "delete_queuejob")
TYPES = ["demo.noop", "demo.sleep", "ai.summarize", "email.send", "notification.webhook", "indexing.reindex", "nope"]
FIELDS = ["type", "payload", "queue", "priority", "delay", "run_at", "unique_key", "max_attempts", "timeout",
          "correlation_id", "webhook_url"]

text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=False, allow_infinity=False), text,
                    st.sampled_from(["", "\x00", "0", "-1", "1e400", "2030-01-01T00:00:00Z", "http://127.0.0.1/",
                                     "default", "email", "pending"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
                      max_leaves=6)
bodies = st.fixed_dictionaries({"type": st.one_of(st.sampled_from(TYPES), values)},
                               optional={name: values for name in FIELDS[1:]})
query_values = st.one_of(text, st.sampled_from(["", "\x00", "%", "-1", "1e400", "pending", "failed", "email",
                                                "-created", "finished", "24h", "2030-01-01", "x" * 300]))
DASHBOARD_PARAMS = ["state", "since", "from", "to", "finished_before", "older_than", "ids", "type", "q", "queue",
                    "error", "after", "before", "sort", "failed", "page"]  # and q: the search page's
API_PARAMS = ["status", "queue", "type", "q", "limit", "cursor", "created_after", "created_before"]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.fixture
def staff(db: None, settings: Any) -> tuple[Client, Client]:
    settings.API_RATE_LIMITS = {scope: "100000/100000" for scope in settings.API_RATE_LIMITS}
    user = make_user("fuzzer", perms=(*ALL, "enqueue_email.send"))
    _, key = api_token_create(user=user, name="fuzz")
    session = Client()
    session.force_login(user)
    return Client(headers={"authorization": f"Bearer {key}"}), session


def test_api_enqueue_never_errors_and_refusals_create_nothing(staff: tuple[Client, Client]) -> None:
    api, _ = staff

    @FUZZ
    @given(body=st.one_of(bodies, values))
    def check(body: Any) -> None:
        before = QueueJob.objects.count()
        response = api.post("/api/jobs", json.dumps(body), content_type="application/json")
        assert response.status_code < 500, (body, response.content)
        if response.status_code >= 400:
            assert QueueJob.objects.count() == before, body
        bulk = api.post("/api/jobs/bulk", json.dumps({"jobs": [body, body] if isinstance(body, dict) else body}),
                        content_type="application/json")
        assert bulk.status_code < 500, (body, bulk.content)

    check()


def test_api_reads_never_error(staff: tuple[Client, Client]) -> None:
    api, _ = staff

    @FUZZ
    @given(params=st.dictionaries(st.sampled_from(API_PARAMS), query_values, max_size=4), job_id=query_values)
    def check(params: dict[str, str], job_id: str) -> None:
        for path in ("/api/jobs", "/api/queues", "/api/job-types"):
            response = api.get(path, params)
            assert response.status_code < 500, (path, params, response.content)
        response = api.get(f"/api/jobs/{job_id.replace('/', '')}")
        assert response.status_code < 500, (job_id, response.content)

    check()


DASHBOARD_PAGES = ["/admin/queues/", "/admin/queues/queue/email/", "/admin/queues/queue/email/count/",
                   "/admin/queues/dead-letters/", "/admin/queues/workers/", "/admin/queues/add/",
                   "/admin/queues/add/demo.sleep/", "/admin/queues/search/"]
NASTY = ["\x00", "x" * 300, "%", "-1", "1e400"]


@pytest.mark.parametrize("page", DASHBOARD_PAGES)
def test_every_dashboard_parameter_takes_nasty_values(staff: tuple[Client, Client], page: str) -> None:
    """The sweep hypothesis might miss: each parameter of each page, alone, with each nasty value."""
    _, session = staff
    for name in DASHBOARD_PARAMS:
        for value in NASTY:
            response = session.get(page, {name: value})
            assert response.status_code < 500, (page, name, value)


def test_dashboard_pages_never_error(staff: tuple[Client, Client]) -> None:
    _, session = staff
    pages = DASHBOARD_PAGES

    @FUZZ
    @given(params=st.dictionaries(st.sampled_from(DASHBOARD_PARAMS), query_values, max_size=4),
           page=st.sampled_from(pages), segment=query_values)
    def check(params: dict[str, str], page: str, segment: str) -> None:
        response = session.get(page, params)
        assert response.status_code < 500, (page, params, response.status_code)
        safe = segment.replace("/", "").replace("?", "").replace("#", "") or "x"
        for path in (f"/admin/queues/queue/{safe}/", f"/admin/queues/jobs/{safe}/", f"/admin/queues/add/{safe}/"):
            response = session.get(path, params)
            assert response.status_code < 500, (path, params, response.status_code)

    check()
