"""The progress view and the queue overview: who may see them, what they render."""
from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test import Client

from jobs.engine.enqueue import job_enqueue
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_progress_view_renders_the_snapshot_inside_the_admin() -> None:
    job = job_enqueue(type="demo.sleep", payload={"seconds": 1}, correlation_id="view-1").job
    response = logged_in(make_user("watcher")).get(f"/admin/queues/jobs/{job.id}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="breadcrumbs"' in html and "/admin/queues/" in html  # the admin's look, with breadcrumbs
    assert "monitoring/job_progress.js" in html and f'data-ws-path="/ws/jobs/{job.id}/"' in html
    assert "theme-toggle" in html  # admin's light/dark switch comes with base_site.html
    snapshot = json.loads(html.split('id="job-snapshot" type="application/json">')[1].split("</script>")[0])
    assert snapshot["job"]["id"] == str(job.id) and snapshot["job"]["status"] == "pending"


def test_progress_view_sends_others_to_the_admin_login() -> None:
    job = job_enqueue(type="demo.noop", payload={}).job
    url = f"/admin/queues/jobs/{job.id}/"
    for client in (Client(), logged_in(make_user("staff-only", perms=())),
                   logged_in(make_user("not-staff", staff=False))):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/?next=")


def test_progress_view_of_an_unknown_job_is_404() -> None:
    client = logged_in(make_user("watcher"))
    assert client.get(f"/admin/queues/jobs/{uuid.uuid4()}/").status_code == 404
    assert client.get("/admin/queues/jobs/nope/").status_code == 404


def test_queue_overview_lists_counts_and_links_to_jobs() -> None:
    job = job_enqueue(type="demo.noop", payload={}).job
    response = logged_in(make_user("watcher")).get("/admin/queues/")
    assert response.status_code == 200
    assert f"/admin/queues/jobs/{job.id}/" in response.content.decode()
    assert Client().get("/admin/queues/").status_code == 302
