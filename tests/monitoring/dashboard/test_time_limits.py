"""A type's time limit a person can see and set (issue 12, item 3): the add form, the job page, and a flag
when the payload cannot finish in time."""
from __future__ import annotations

import html
import json
from typing import Any

import pytest
from django.test import Client

from jobs.api.tokens import api_token_create
from jobs.engine.enqueue import job_enqueue
from jobs.models import QueueJob
from tests.conftest import make_user


@pytest.fixture
def clerk(db: None) -> Client:
    client = Client()
    client.force_login(make_user("clerk", perms=("view_queuejob", "add_queuejob")))
    return client


def test_the_add_form_shows_and_sets_the_time_limit_within_its_ceiling(clerk: Client) -> None:
    form = html.unescape(clerk.get("/admin/queues/add/demo.sleep/").content.decode())
    assert 'name="job_timeout"' in form and "the type's 10 s" in form and "at most 3600 s" in form
    too_long = clerk.post("/admin/queues/add/demo.sleep/", {"seconds": "1", "job_queue": "default",
                                                            "job_timeout": "4000"})
    assert too_long.status_code == 200 and not QueueJob.objects.exists()
    added = clerk.post("/admin/queues/add/demo.sleep/", {"seconds": "20", "job_queue": "default",
                                                         "job_timeout": "30"}, follow=True)
    job = QueueJob.objects.get()
    assert job.timeout == 30 and "will time out" not in added.content.decode()
    assert 'id="job-timeout">30 s' in added.content.decode()  # the job page shows it


def test_a_payload_that_cannot_finish_in_time_is_flagged(clerk: Client) -> None:
    added = clerk.post("/admin/queues/add/demo.sleep/", {"seconds": "20", "job_queue": "default"}, follow=True)
    assert "sleep needs at least 20 s but its time limit is 10 s: it will time out" in added.content.decode()
    _, key = api_token_create(user=make_user("api", perms=("view_queuejob", "add_queuejob")), name="api")
    api = Client(headers={"authorization": f"Bearer {key}"})
    flagged = api.post("/api/jobs", json.dumps({"type": "demo.sleep", "payload": {"seconds": 20}}),
                       content_type="application/json")
    assert flagged.status_code == 202 and "will time out" in flagged.json()["warnings"][0]
    fine = api.post("/api/jobs", json.dumps({"type": "demo.sleep", "payload": {"seconds": 20}, "timeout": 25}),
                    content_type="application/json")
    assert fine.status_code == 202 and fine.json()["warnings"] == []


def test_run_again_keeps_the_jobs_time_limit(clerk: Any) -> None:
    source = job_enqueue(type="demo.sleep", payload={"seconds": 2}, timeout=42).job
    form = clerk.get(f"/admin/queues/add/demo.sleep/?from={source.id}").content.decode()
    assert 'name="job_timeout" value="42.0"' in form or 'value="42"' in form
