"""The audit trail (finding 15): every state-changing action, from the API, the CLI, the dashboard and the admin,
is recorded with who, through what, what, how many and the filter used, and shown in the admin."""
from __future__ import annotations

import getpass
import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from jobs.api.tokens import api_token_create
from jobs.core.states import JobStatus
from jobs.engine.enqueue import job_enqueue
from jobs.models import AuditEntry, QueueJob
from tests.jobs.api.test_views import ALL_PERMISSIONS, bearer_client, make_user, post_json

pytestmark = pytest.mark.django_db


def trail() -> list[tuple]:
    return [(e.action, e.count, e.interface, e.via, e.credential, e.actor, e.object_id, e.target)
            for e in AuditEntry.objects.order_by("at", "pk")]


def failed_job() -> QueueJob:
    job = job_enqueue(type="demo.noop").job
    QueueJob.objects.filter(pk=job.pk).update(status=JobStatus.FAILED)
    return job


def test_api_actions_are_audited_with_the_user_and_the_token_prefix() -> None:
    user = make_user("operator", *ALL_PERMISSIONS)
    token, key = api_token_create(user=user, name="ci")
    client = Client(headers={"authorization": f"Bearer {key}"})
    created = post_json(client, "/api/jobs", {"type": "demo.noop"}).json()["id"]
    bulk = post_json(client, "/api/jobs/bulk", {"jobs": [{"type": "demo.noop"}, {"type": "demo.sleep"}, {"type": "x"}]})
    assert bulk.json()["accepted"] == 2
    assert post_json(client, f"/api/jobs/{created}/cancel").status_code == 202
    assert post_json(client, f"/api/jobs/{created}/retry").status_code == 202
    post_json(client, "/api/queues/email/pause")
    post_json(client, "/api/queues/email/resume")
    api = ("api", "token", token.prefix, "operator")
    assert trail() == [
        ("enqueue", 1, *api, created, ""),
        ("enqueue", 2, *api, "", ""),
        ("cancel", 1, *api, created, ""),
        ("retry", 1, *api, created, ""),
        ("pause", 0, *api, "", "queue email"),
        ("resume", 0, *api, "", "queue email"),
    ]
    entries = list(AuditEntry.objects.order_by("at", "pk"))
    assert entries[0].user == user and entries[0].detail == "demo.noop on default"
    assert entries[1].detail == "bulk of 3: demo.noop, demo.sleep"


def test_refused_and_conflicting_requests_record_nothing() -> None:
    viewer = bearer_client(make_user("viewer", "view_queuejob"))
    job = job_enqueue(type="demo.noop").job
    assert post_json(viewer, f"/api/jobs/{job.id}/cancel").status_code == 403
    operator = bearer_client(make_user("op", *ALL_PERMISSIONS))
    assert post_json(operator, f"/api/jobs/{job.id}/retry").status_code == 409
    assert not AuditEntry.objects.exists()


def test_session_callers_are_audited_as_session() -> None:
    client = Client()
    client.force_login(make_user("browser", *ALL_PERMISSIONS))
    job_id = post_json(client, "/api/jobs", {"type": "demo.noop"}).json()["id"]
    assert trail() == [("enqueue", 1, "api", "session", "", "browser", job_id, "")]


def call(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_commands_are_audited_with_the_command_and_the_os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    make_user("alice", *ALL_PERMISSIONS)
    enqueued = call("enqueue_job", "demo.noop").strip()
    call("cancel_job", enqueued)
    first, _ = failed_job(), failed_job()
    call("retry_jobs", "--status", "failed", "--type", "demo.noop", "--dry-run")  # changes nothing: not recorded
    call("retry_jobs", "--status", "failed", "--type", "demo.noop")
    QueueJob.objects.filter(pk=first.pk).update(status=JobStatus.FAILED)
    call("retry_jobs", str(first.id))
    call("pause_queue", "email")
    call("resume_queue", "email")
    call("purge_jobs")
    prefix = call("create_api_token", "alice", "--scopes", "read").splitlines()[-1][:10]
    monkeypatch.setenv("SUDO_USER", "ops-on-call")  # run through sudo: the person behind it
    call("revoke_api_token", prefix)

    me = getpass.getuser()
    rows = trail()
    assert [row[:2] for row in rows] == [("enqueue", 1), ("cancel", 1), ("retry", 2), ("retry", 1), ("pause", 0),
                                         ("resume", 0), ("delete", 0), ("token_create", 1), ("token_revoke", 1)]
    assert [row[4] for row in rows] == ["enqueue_job", "cancel_job", "retry_jobs", "retry_jobs", "pause_queue",
                                        "resume_queue", "purge_jobs", "create_api_token", "revoke_api_token"]
    assert all(row[2:4] == ("cli", "command") for row in rows)
    assert [row[5] for row in rows] == [me] * 8 + ["ops-on-call"]
    assert rows[0][6] == rows[1][6] == enqueued
    by_filter, by_id = AuditEntry.objects.filter(action="retry").order_by("pk")
    assert (by_filter.object_id, by_filter.detail) == ("", "status=failed, type=demo.noop")
    assert (by_id.object_id, by_id.detail) == (str(first.id), "demo.noop on default")
    assert rows[7][7] == rows[8][7] == f"token {prefix}"
    assert "scopes read" in AuditEntry.objects.get(action="token_create").detail


def test_a_generated_history_is_audited_too() -> None:
    call("generate_jobs", "--count", "20", "--days", "1")
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.count, entry.credential) == ("generate", QueueJob.objects.count(), "generate_jobs")


def test_the_trail_is_shown_read_only_in_the_admin() -> None:
    client = bearer_client(make_user("op", *ALL_PERMISSIONS))
    job_id = post_json(client, "/api/jobs", {"type": "demo.noop"}).json()["id"]
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", password=None))
    listing = admin.get("/admin/jobs/auditentry/").content.decode()
    assert "enqueue" in listing and f"job {job_id}" in listing and "token" in listing
    assert job_id in admin.get("/admin/jobs/auditentry/", {"q": job_id[:8]}).content.decode()
    entry = AuditEntry.objects.get()
    assert admin.get("/admin/jobs/auditentry/add/").status_code == 403
    assert admin.post(f"/admin/jobs/auditentry/{entry.pk}/change/", {"action": "x"}).status_code == 403
    assert admin.post(f"/admin/jobs/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.get().action == "enqueue"


def test_a_job_page_lists_what_was_done_to_it_from_any_interface() -> None:
    operator = make_user("operator", *ALL_PERMISSIONS)
    token, key = api_token_create(user=operator, name="ci")
    job = failed_job()
    post_json(Client(headers={"authorization": f"Bearer {key}"}), f"/api/jobs/{job.id}/retry")
    call("cancel_job", str(job.id))
    browser = Client()
    browser.force_login(operator)
    page = browser.get(f"/admin/queues/jobs/{job.id}/").content.decode()
    assert "operator: retry: 1 job (demo.noop on default)" in page and f"via token {token.prefix}" in page
    assert f"{getpass.getuser()}: cancel: 1 job" in page and "via command cancel_job" in page
