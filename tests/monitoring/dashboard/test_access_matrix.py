"""Every dashboard route for each kind of caller (issue 11): anonymous, logged in but not staff,
staff without the route's permission, staff with it. Only the last may act; only staff with
``view_queuejob`` may look; nobody gets a 500."""
from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from jobs.engine.enqueue import job_enqueue
from jobs.models import QueueJob
from tests.conftest import make_user

LOGIN = "/admin/login/"


@pytest.fixture
def job(db: None) -> QueueJob:
    return job_enqueue(type="demo.noop", payload={}, delay=3600).job


def routes(job: QueueJob) -> list[tuple[str, str, dict[str, Any], str | None]]:
    """(method, path, data, the permission beyond viewing it needs)."""
    jid = str(job.id)
    return [
        ("GET", "/admin/queues/", {}, None),
        ("GET", "/admin/queues/queue/default/", {}, None),
        ("GET", "/admin/queues/queue/default/count/", {}, None),
        ("GET", "/admin/queues/dead-letters/", {}, None),
        ("GET", "/admin/queues/workers/", {}, None),
        ("GET", "/admin/queues/metrics/", {"window": "24h"}, None),
        ("GET", "/admin/queues/metrics/data/", {"window": "7d", "queue": "default"}, None),
        ("GET", "/admin/queues/search/", {"q": "payload text"}, None),
        ("GET", f"/admin/queues/jobs/{jid}/", {}, None),
        ("GET", f"/admin/queues/jobs/{jid}/timeline/", {}, None),
        ("GET", "/admin/queues/add/", {}, "add_queuejob"),
        ("GET", "/admin/queues/add/demo.noop/", {}, "add_queuejob"),
        ("POST", "/admin/queues/add/demo.noop/", {"job_queue": "default"}, "add_queuejob"),
        ("POST", "/admin/queues/queue/default/pause/", {}, "pause_queue"),
        ("POST", "/admin/queues/queue/default/resume/", {}, "pause_queue"),
        ("POST", f"/admin/queues/jobs/{jid}/cancel/", {}, "cancel_queuejob"),
        ("POST", f"/admin/queues/jobs/{jid}/retry/", {}, "retry_queuejob"),
        ("GET", "/admin/queues/action/", {"action": "run_now", "queue": "default"}, "change_queuejob"),
        ("POST", "/admin/queues/action/", {"action": "run_now", "ids": jid}, "change_queuejob"),
        ("POST", "/admin/queues/action/", {"action": "delete", "ids": jid}, "delete_queuejob"),
    ]


def call(client: Client, method: str, path: str, data: dict[str, Any]) -> Any:
    return client.get(path, data) if method == "GET" else client.post(path, data)


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_anonymous_and_non_staff_are_sent_to_the_login(job: QueueJob) -> None:
    outsiders = {"anonymous": Client(),
                 "not staff": logged_in(make_user("member", perms=("view_queuejob", "add_queuejob"), staff=False)),
                 "staff, no view": logged_in(make_user("clerk", perms=("add_queuejob", "pause_queue")))}
    for who, client in outsiders.items():
        for method, path, data, _ in routes(job):
            response = call(client, method, path, data)
            assert response.status_code == 302 and response["Location"].startswith(LOGIN), (who, method, path)
    assert QueueJob.objects.get(pk=job.pk).status == "scheduled"


def test_a_viewer_may_look_but_not_act(job: QueueJob) -> None:
    viewer = logged_in(make_user("viewer"))
    for method, path, data, permission in routes(job):
        response = call(viewer, method, path, data)
        expected = 200 if permission is None else 403
        assert response.status_code == expected, (method, path, response.status_code)
    assert QueueJob.objects.get(pk=job.pk).status == "scheduled" and QueueJob.objects.count() == 1


@pytest.mark.parametrize("permission", ["add_queuejob", "pause_queue", "cancel_queuejob", "retry_queuejob",
                                        "change_queuejob", "delete_queuejob"])
def test_each_permission_opens_its_own_routes_only(job: QueueJob, permission: str) -> None:
    client = logged_in(make_user("holder", perms=("view_queuejob", permission)))
    for method, path, data, needed in routes(job):
        response = call(client, method, path, data)
        if needed is None or needed == permission:
            assert response.status_code in (200, 302), (permission, method, path, response.status_code)
            if response.status_code == 302:
                assert not response["Location"].startswith(LOGIN), (permission, method, path)
        else:
            assert response.status_code == 403, (permission, method, path, response.status_code)
