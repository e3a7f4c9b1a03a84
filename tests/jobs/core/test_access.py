"""The access policy (jobs/core/access.py) as attackers meet it: every API route and socket, every kind of caller.

The matrix: anonymous, authenticated but not staff (holding every permission),
staff without the route's permission (holding every other one), staff with
only that permission. API routes here, through Django's test client with a
bearer token and with a session; the sockets' row is
tests/monitoring/live/test_access.py::test_socket (the full ASGI stack).
"""
from __future__ import annotations

import pytest
from django.test import Client

from jobs.api.tokens import api_token_create
from jobs.api.views import api
from jobs.core.states import JobStatus
from jobs.engine.enqueue import job_enqueue
from jobs.models import QueueJob
from tests.jobs.api.test_views import ALL_PERMISSIONS, make_user, post_json

#: Every API route: (method, path template, the permission's codename, the answer when allowed).
ROUTES = [
    ("get", "/api/jobs", "view_queuejob", 200),
    ("post", "/api/jobs", "add_queuejob", 202),
    ("post", "/api/jobs/bulk", "add_queuejob", 200),
    ("get", "/api/jobs/{job_id}", "view_queuejob", 200),
    ("get", "/api/jobs/{job_id}/attempts", "view_queuejob", 200),
    ("get", "/api/jobs/{job_id}/logs", "view_queuejob", 200),
    ("post", "/api/jobs/{job_id}/cancel", "cancel_queuejob", 202),
    ("post", "/api/jobs/{failed_id}/retry", "retry_queuejob", 202),
    ("get", "/api/queues", "view_queuejob", 200),
    ("post", "/api/queues/{name}/pause", "pause_queue", 200),
    ("post", "/api/queues/{name}/resume", "pause_queue", 200),
    ("get", "/api/job-types", "view_queuejob", 200),
]
BODIES = {"/api/jobs": {"type": "demo.noop"}, "/api/jobs/bulk": {"jobs": [{"type": "demo.noop"}]}}
#: The kinds of caller, in the matrix of tests/monitoring/live/test_access.py too.
CALLERS = ["anonymous", "not staff", "staff without the permission", "staff with the permission"]


def test_the_matrix_covers_every_api_route() -> None:
    schema = api.get_openapi_schema()
    served = {(method, path) for path, ops in schema["paths"].items() for method in ops}
    covered = {(method, path.replace("{failed_id}", "{job_id}")) for method, path, _, _ in ROUTES}
    assert served == covered


def _caller(kind: str, codename: str, via: str) -> Client:
    if kind == "anonymous":
        return Client()
    if kind == "not staff":
        user = make_user("outsider", *ALL_PERMISSIONS, staff=False)
    elif kind == "staff without the permission":
        user = make_user("staffer", *[p for p in ALL_PERMISSIONS if p != codename])
    else:
        user = make_user("holder", codename)
    if via == "token":
        return Client(headers={"authorization": f"Bearer {api_token_create(user=user)[1]}"})
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("via", ["token", "session"])
@pytest.mark.parametrize(("method", "path", "codename", "allowed"), ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
@pytest.mark.parametrize("kind", CALLERS)
def test_api_route(kind: str, method: str, path: str, codename: str, allowed: int, via: str) -> None:
    job = job_enqueue(type="demo.noop").job
    failed = job_enqueue(type="demo.noop").job
    QueueJob.objects.filter(pk=failed.pk).update(status=JobStatus.FAILED)
    url = path.format(job_id=job.id, failed_id=failed.id, name="default")
    client = _caller(kind, codename, via)
    response = client.get(url) if method == "get" else post_json(client, url, BODIES.get(path))
    expected = {"anonymous": 401, "not staff": 403, "staff without the permission": 403}.get(kind, allowed)
    assert response.status_code == expected, response.content
    if expected == 403:
        detail = response.json()["detail"]
        assert detail == ("staff status required" if kind == "not staff" else f"permission jobs.{codename} required")
    if kind != "staff with the permission":  # nothing changed
        assert QueueJob.objects.filter(status=JobStatus.PENDING).count() == 1
        assert QueueJob.objects.get(pk=failed.pk).status == JobStatus.FAILED
