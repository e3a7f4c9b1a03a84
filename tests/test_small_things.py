"""Small things a newcomer hit (issue 12, items 7 and 10)."""
from __future__ import annotations

import logging
from typing import Any

from django.test import Client

from jobs.api.tokens import api_token_create
from tests.conftest import make_user


def test_the_site_root_goes_to_the_dashboard(db: None) -> None:
    response = Client().get("/")
    assert response.status_code == 302 and response["Location"] == "/admin/queues/"


def test_pages_declare_an_icon_so_browsers_do_not_ask_for_favicon_ico(db: None) -> None:
    client = Client()
    client.force_login(make_user("viewer"))
    for page in ("/admin/", "/admin/queues/"):
        assert 'rel="icon"' in client.get(page).content.decode(), page
    assert 'rel="icon"' in Client().get("/admin/login/").content.decode()


def test_a_wrong_method_on_the_api_answers_json(db: None) -> None:
    _, key = api_token_create(user=make_user("reader", perms=("view_queuejob",)), name="reader")
    response = Client(headers={"authorization": f"Bearer {key}"}).get("/api/jobs/bulk")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert response.json() == {"detail": "method GET not allowed here; allowed: POST"}


def test_the_admin_shows_no_second_rq_dashboard(db: None) -> None:
    client = Client()
    client.force_login(make_user("boss", perms=("view_queuejob",)))
    page = client.get("/admin/").content.decode()
    assert "Django-RQ" not in page and "django_rq" not in page and "Queues and jobs" in page


def test_cancelling_a_running_job_says_the_cancel_was_requested(db: None) -> None:
    from jobs.engine.enqueue import job_enqueue
    from jobs.models import QueueJob

    job = job_enqueue(type="demo.sleep", payload={"seconds": 5}).job
    QueueJob.objects.filter(pk=job.pk).update(status="active")
    _, key = api_token_create(user=make_user("ops", perms=("view_queuejob", "cancel_queuejob")), name="ops")
    answer = Client(headers={"authorization": f"Bearer {key}"}).post(f"/api/jobs/{job.id}/cancel")
    assert answer.status_code == 202
    assert answer.json()["status"] == "active" and answer.json()["cancel_requested"] is True


def test_a_handlers_log_lines_name_its_job(caplog: Any) -> None:
    from jobs.execution.context import JobLogger

    logger = JobLogger(logging.getLogger("jobs.handler.demo"), {"job_id": "0f3a", "correlation_id": "order-9"})
    with caplog.at_level(logging.INFO, logger="jobs.handler.demo"):
        logger.info("resized %d images", 3)
    assert caplog.records[-1].getMessage() == "job=0f3a correlation_id=order-9 resized 3 images"
    assert caplog.records[-1].job_id == "0f3a"


def test_the_job_page_says_once_who_added_a_job_and_how(db: None) -> None:
    from jobs.models import QueueJob

    client = Client()
    client.force_login(make_user("ada", perms=("view_queuejob", "add_queuejob")))
    client.post("/admin/queues/add/demo.noop/", {"job_queue": "default"})
    page = client.get(f"/admin/queues/jobs/{QueueJob.objects.get().id}/").content.decode()
    assert "added from the dashboard by ada" in page and "created" in page
    assert "by admin by" not in page and "(dashboard)" not in page


def test_type_descriptions_show_code_not_backticks(db: None) -> None:
    client = Client()
    client.force_login(make_user("ada", perms=("view_queuejob", "add_queuejob")))
    page = client.get("/admin/queues/add/").content.decode()
    assert "Fails its first <code>failures</code> attempts" in page
    assert "<code>async def</code> handler" in page and "``" not in page
