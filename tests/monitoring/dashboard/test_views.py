"""Dashboard pages and actions through Django's test client: rendering, access control, audit, CSRF."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from jobs.engine.enqueue import job_enqueue, job_enqueue_many
from jobs.models import AuditEntry, QueueJob, QueueState
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

PAGES = ["/admin/queues/", "/admin/queues/queue/default/", "/admin/queues/dead-letters/", "/admin/queues/workers/"]


def client_for(user: Any, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def failed_jobs(n: int, type: str = "demo.noop") -> list[QueueJob]:
    jobs = job_enqueue_many([{"type": type} for _ in range(n)])
    QueueJob.objects.filter(pk__in=[j.id for j in jobs]).update(status="failed", error="RuntimeError: boom 1",
                                                                attempts=3, dispatched_at=None, rq_id="",
                                                                finished_at=timezone.now())
    return jobs


def test_anonymous_is_sent_to_the_login_page() -> None:
    job = job_enqueue(type="demo.noop").job
    for url in [*PAGES, f"/admin/queues/jobs/{job.id}/", "/admin/queues/add/"]:
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/?next="), url
    response = Client().post("/admin/queues/action/", {"action": "retry", "scope": "filter"})
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_staff_without_view_permission_is_sent_to_login_too() -> None:
    client = client_for(make_user("nobody", perms=()))
    assert client.get("/admin/queues/").status_code == 302


def test_pages_render_for_a_viewer(viewer: Any) -> None:
    job = failed_jobs(2)[0]
    client = client_for(viewer)
    for url in [*PAGES, f"/admin/queues/jobs/{job.id}/", "/admin/queues/queue/default/?state=failed&q=boom",
                f"/admin/queues/queue/default/?q={str(job.id)[:8]}"]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "RuntimeError: boom 1" in response.content.decode() or "queue" in url or url.endswith("workers/")
    page = client.get("/admin/queues/queue/default/?state=failed").content.decode()
    assert str(job.id) in page and 'class="breadcrumbs"' in page
    assert client.get("/admin/queues/queue/nope/").status_code == 404
    assert client.get("/admin/queues/jobs/not-a-uuid/").status_code == 404


def test_viewer_sees_no_action_buttons_and_gets_403_from_every_action(viewer: Any) -> None:
    job = failed_jobs(1)[0]
    client = client_for(viewer)
    queue_page = client.get("/admin/queues/queue/default/?state=failed").content.decode()
    job_page = client.get(f"/admin/queues/jobs/{job.id}/").content.decode()
    for marker in ['id="selected-retry"', 'id="bulk-retry"', 'id="pause-queue"', 'id="clean-queue"',
                   'id="selected-delete"', "Add job"]:
        assert marker not in queue_page, marker
    for marker in ['id="job-retry"', 'id="job-cancel"', 'id="job-rerun"']:
        assert marker not in job_page, marker
    posts = [
        ("/admin/queues/action/", {"action": "retry", "scope": "filter", "queue": "default", "state": "failed"}),
        ("/admin/queues/action/", {"action": "delete", "scope": "selected", "ids": [str(job.id)]}),
        ("/admin/queues/action/", {"action": "cancel", "scope": "filter"}),
        ("/admin/queues/action/", {"action": "run_now", "scope": "filter"}),
        ("/admin/queues/queue/default/pause/", {}),
        ("/admin/queues/queue/default/resume/", {}),
        (f"/admin/queues/jobs/{job.id}/retry/", {}),
        (f"/admin/queues/jobs/{job.id}/cancel/", {}),
        ("/admin/queues/add/demo.noop/", {"job_queue": "default"}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    assert client.get("/admin/queues/action/?action=retry&queue=default").status_code == 403
    assert client.get("/admin/queues/add/").status_code == 403
    assert QueueJob.objects.get(pk=job.id).status == "failed"
    assert not QueueState.objects.filter(paused=True).exists()
    assert not AuditEntry.objects.exists()


def test_each_action_needs_its_own_permission() -> None:
    job = failed_jobs(1)[0]
    client = client_for(make_user("retrier", perms=("view_queuejob", "retry_queuejob")))
    page = client.get("/admin/queues/queue/default/?state=failed").content.decode()
    assert 'id="selected-retry"' in page and 'id="selected-delete"' not in page and 'id="pause-queue"' not in page
    assert client.post("/admin/queues/action/", {"action": "delete", "scope": "filter"}).status_code == 403
    response = client.post("/admin/queues/action/", {"action": "retry", "scope": "selected", "queue": "default",
                                                      "ids": [str(job.id)]})
    assert response.status_code == 302
    assert QueueJob.objects.get(pk=job.id).status == "pending"


def test_bulk_retry_by_filter_confirms_with_the_count_then_acts_and_is_audited(operator: Any) -> None:
    failed_jobs(3)
    failed_jobs(2, type="demo.sleep")
    client = client_for(operator)
    confirm = client.get("/admin/queues/action/", {"action": "retry", "scope": "filter", "queue": "default",
                                                   "state": "failed", "type": "demo.noop", "since": "1h"})
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert re.search(r'id="confirm-count">\s*3<', html), html
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    assert "from" in hidden and "since" not in hidden  # "last hour" is fixed when confirmed
    response = client.post("/admin/queues/action/", {**hidden, "next": "/admin/queues/queue/default/"})
    assert response.status_code == 302 and response["Location"] == "/admin/queues/queue/default/"
    assert QueueJob.objects.filter(type="demo.noop", status="pending").count() == 3
    assert QueueJob.objects.filter(type="demo.sleep", status="failed").count() == 2
    entry = AuditEntry.objects.get()
    assert (entry.user, entry.interface, entry.via) == (operator, "dashboard", "session")
    assert entry.count == 3
    assert entry.message.startswith("retry: 3 jobs (queue=default, state=failed, type=demo.noop, created>=")
    messages = [str(m) for m in client.get("/admin/queues/queue/default/").context["messages"]]
    assert messages == ["3 jobs retried."]


def test_selected_actions_pause_resume_and_single_job_actions_are_logged(operator: Any) -> None:
    jobs = failed_jobs(2)
    client = client_for(operator)
    client.post("/admin/queues/action/", {"action": "delete", "scope": "selected", "queue": "default",
                                          "ids": [str(jobs[0].id)]})
    assert not QueueJob.objects.filter(pk=jobs[0].id).exists()
    client.post("/admin/queues/queue/email/pause/")
    assert QueueState.objects.get(name="email").paused
    client.post("/admin/queues/queue/email/resume/")
    assert not QueueState.objects.get(name="email").paused
    client.post(f"/admin/queues/jobs/{jobs[1].id}/retry/")
    assert QueueJob.objects.get(pk=jobs[1].id).status == "pending"
    client.post(f"/admin/queues/jobs/{jobs[1].id}/cancel/")
    assert QueueJob.objects.get(pk=jobs[1].id).status == "cancelled"
    logged = [(entry.object_id, entry.message) for entry in AuditEntry.objects.order_by("at")]
    assert logged == [
        (str(jobs[0].id), "delete: 1 job (1 selected job, queue=default)"),
        ("", "pause: queue email"),
        ("", "resume: queue email"),
        (str(jobs[1].id), "retry: 1 job (demo.noop on default)"),
        (str(jobs[1].id), "cancel: 1 job (demo.noop on default)"),
    ]
    # The job's page lists what people did to it.
    page = client.get(f"/admin/queues/jobs/{jobs[1].id}/").content.decode()
    assert "retry: 1 job (demo.noop on default)" in page


def test_posts_need_a_csrf_token(operator: Any) -> None:
    job = failed_jobs(1)[0]
    client = client_for(operator, enforce_csrf_checks=True)
    for url, data in [("/admin/queues/action/", {"action": "retry", "scope": "filter"}),
                      ("/admin/queues/queue/default/pause/", {}),
                      (f"/admin/queues/jobs/{job.id}/retry/", {})]:
        assert client.post(url, data).status_code == 403, url
    assert QueueJob.objects.get(pk=job.id).status == "failed"
    token = client.get("/admin/queues/queue/default/").cookies["csrftoken"].value
    response = client.post(f"/admin/queues/jobs/{job.id}/retry/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302


def test_admin_index_and_sidebar_link_the_dashboard(viewer: Any) -> None:
    client = client_for(viewer)
    index = client.get("/admin/").content.decode()
    assert 'href="/admin/queues/"' in index and "Dead letters" in index
    page = client.get("/admin/queues/workers/").content.decode()
    assert 'id="nav-sidebar"' in page and 'href="/admin/queues/dead-letters/"' in page
    nobody = client_for(make_user("nobody", perms=()))
    assert 'href="/admin/queues/"' not in nobody.get("/admin/").content.decode()


def test_clean_confirms_with_the_count_of_old_finished_jobs_then_deletes_only_those(operator: Any) -> None:
    old = job_enqueue_many([{"type": "demo.noop"} for _ in range(4)])
    recent = job_enqueue_many([{"type": "demo.noop"} for _ in range(2)])
    two_days_ago = timezone.now() - timedelta(days=2)
    QueueJob.objects.filter(pk__in=[j.id for j in old]).update(status="completed", finished_at=two_days_ago,
                                                               created_at=two_days_ago)
    QueueJob.objects.filter(pk__in=[j.id for j in recent]).update(status="completed", finished_at=timezone.now())
    client = client_for(operator)
    assert 'id="clean-queue"' in client.get("/admin/queues/queue/default/").content.decode()
    confirm = client.get("/admin/queues/action/", {"action": "delete", "queue": "default", "state": "completed",
                                                   "older_than": "86400"})
    html = confirm.content.decode()
    assert re.search(r'id="confirm-count">\s*4<', html) and "Yes, delete 4 jobs" in html
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    assert "finished_before" in hidden and "older_than" not in hidden
    client.post("/admin/queues/action/", hidden)
    assert set(QueueJob.objects.values_list("id", flat=True)) == {j.id for j in recent}
    assert AuditEntry.objects.get().message.startswith(
        "delete: 4 jobs (queue=default, state=completed, finished<")


def test_a_queue_page_shows_the_queues_global_limits(viewer: Any, settings: Any) -> None:
    settings.JOB_QUEUES = {**settings.JOB_QUEUES,
                           "report": {**settings.JOB_QUEUES["report"], "global_concurrency": 3, "rate_limit": (10, 1)}}
    page = client_for(viewer).get("/admin/queues/queue/report/").content.decode()
    assert "≤ 3 running · ≤ 10 starts / 1 s" in page
    assert 'id="queue-limits"' not in client_for(viewer).get("/admin/queues/queue/default/").content.decode()


def test_the_lifecycle_lists_a_jobs_steps_in_the_order_they_happened() -> None:
    """A timed-out attempt's row can be written after the job's (another process, another clock): the job's
    "failed" still comes after "attempt 3 timeout", and people's actions fall in between by their time."""
    from jobs.models import JobAttempt
    from monitoring.dashboard.selectors import job_detail

    job = failed_jobs(1)[0]
    QueueJob.objects.filter(pk=job.pk).update(error="TimeLimitExceeded", run_at=timezone.now())
    job.refresh_from_db()
    t0 = job.created_at
    for number in (1, 2, 3):
        started = t0 + timedelta(seconds=number)
        JobAttempt.objects.create(job=job, number=number, started_at=started, outcome="timeout",
                                  finished_at=started + timedelta(seconds=0.5), duration=0.5)
    QueueJob.objects.filter(pk=job.pk).update(finished_at=t0 + timedelta(seconds=3.2))  # before attempt 3's row
    AuditEntry.objects.create(actor="ada", action="retry", count=1, at=t0 + timedelta(seconds=1.7),
                              interface="dashboard", via="session", object_id=str(job.id))
    labels = [entry.label for entry in job_detail(str(job.id)).timeline]
    assert labels == ["created", "attempt 1 started", "attempt 1 timeout", "ada: retry: 1 job", "attempt 2 started",
                      "attempt 2 timeout", "attempt 3 started", "attempt 3 timeout", "failed"], labels
