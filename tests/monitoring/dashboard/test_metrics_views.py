"""The metrics page and its JSON through Django's test client: who may see them, and parameters a person could
mistype (400 with a message, never a 500)."""
from __future__ import annotations

from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from jobs.models import JobAttempt, QueueJob
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

PAGE = "/admin/queues/metrics/"
DATA = "/admin/queues/metrics/data/"


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def finished(type: str = "demo.noop", queue: str = "default", outcome: str = "completed", seconds: float = 0.5) -> None:
    started = timezone.now() - timedelta(minutes=5)
    job = QueueJob.objects.create(type=type, queue=queue, status="completed" if outcome == "completed" else "failed",
                                  timeout=60, attempts=1)
    QueueJob.objects.filter(pk=job.pk).update(created_at=started - timedelta(seconds=2))
    JobAttempt.objects.create(job=job, number=1, started_at=started, finished_at=started + timedelta(seconds=seconds),
                              outcome=outcome, duration=seconds)


def test_anonymous_non_staff_and_staff_without_view_permission_go_to_the_login() -> None:
    outsiders = [Client(), client_for(make_user("member", staff=False)),
                 client_for(make_user("clerk", perms=("add_queuejob", "pause_queue")))]
    for client in outsiders:
        for url in (PAGE, DATA):
            response = client.get(url)
            assert response.status_code == 302 and response["Location"].startswith("/admin/login/?next="), url


@pytest.mark.parametrize("query, message", [
    ({"window": "2h"}, "window: '2h' is not one of 1h, 24h, 7d"),
    ({"window": "x" * 5000}, "is not one of 1h, 24h, 7d"),
    ({"window": "1h\x00"}, "is not one of"),
    ({"queue": "nope"}, "queue: no queue named 'nope'"),
    ({"type": "demo.nope"}, "type: no job type named 'demo.nope'"),
    ({"type": "demo\x00noop"}, "type: must not contain NUL characters"),
    ({"queue": "q" * 101}, "queue: longer than 100 characters"),
    ({"type": "t" * 10_000}, "type: longer than 100 characters"),
])
def test_a_bad_parameter_is_a_400_with_its_reason(viewer: Any, query: dict[str, str], message: str) -> None:
    client = client_for(viewer)
    page = client.get(PAGE, query)
    assert page.status_code == 400 and message in unescape(page.content.decode())
    assert 'id="metrics-error"' in page.content.decode() and 'id="metrics-filters"' in page.content.decode()
    data = client.get(DATA, query)
    assert data.status_code == 400 and message in data.json()["detail"]


def test_every_window_renders_and_a_removed_type_that_still_has_jobs_is_known(viewer: Any) -> None:
    finished(type="gone.type", queue="legacy")  # neither registered nor configured, but has jobs
    client = client_for(viewer)
    for window in ("1h", "24h", "7d"):
        response = client.get(PAGE, {"window": window, "type": "gone.type", "queue": "legacy"})
        assert response.status_code == 200, window
        assert 'id="metrics-types"' in response.content.decode()
    assert client.get(DATA, {"window": "7d", "queue": "legacy"}).json()["total"]["completed"] == 1


def test_an_empty_window_says_so(viewer: Any) -> None:
    client = client_for(viewer)
    page = client.get(PAGE).content.decode()
    assert "No jobs finished in this window." in page and 'id="metrics-types"' not in page
    data = client.get(DATA, {"type": "demo.sleep"}).json()
    assert data["total"]["completed"] == 0 and data["total"]["failure_rate"] is None
    assert "No jobs finished in this window for" in data["html"] and "demo.sleep" in data["html"]
    assert len(data["series"]) == 60


def test_the_page_and_its_json_show_the_same_numbers(viewer: Any) -> None:
    finished(seconds=0.5)
    finished(seconds=1.5)
    finished(type="demo.fail", outcome="error", seconds=3.0)
    client = client_for(viewer)
    page = client.get(PAGE, {"window": "24h"}).content.decode()
    assert 'aria-current="page">Metrics</a>' in page and "Runs finished, last 24 hours" in page
    data = client.get(DATA, {"window": "24h"}).json()
    assert data["window"] == "24h" and data["sample"] == 1 and len(data["series"]) == 96
    assert (data["total"]["completed"], data["total"]["retried"], data["total"]["failed"]) == (2, 0, 1)
    assert abs(data["total"]["failure_rate"] - 1 / 3) < 1e-9
    assert data["total"]["duration"][0] == 1.5 and data["total"]["wait"] == [2.0, 2.0, 2.0]
    for html in (page, data["html"]):
        assert 'data-total="failure_rate">33.3 %' in html and 'data-total="completed">2<' in html
        assert 'data-row="demo.noop"' in html and 'data-cell="duration_p50">1.00 s' in html
        assert "?window=24h&amp;type=demo.fail" in html  # a type's row narrows the page to it
