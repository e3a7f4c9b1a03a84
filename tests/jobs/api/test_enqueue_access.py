"""Who may enqueue what (issue 11, findings 1, 4, 10's caps and 11), tried through the API, the
dashboard and the CLI as an attacker holding `add_queuejob` would."""
from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.utils import timezone

from jobs.api.tokens import api_token_create
from jobs.models import QueueJob
from tests.conftest import make_user

WEBHOOK = {"type": "notification.webhook",
           "payload": {"url": "http://169.254.169.254/latest/meta-data/", "event": {"forged": True}}}
EMAIL = {"type": "email.send", "payload": {"to": ["a@example.com"], "subject": "s", "body": "b"}}


def bearer(*perms: str, name: str = "caller") -> Client:
    _, key = api_token_create(user=make_user(name, perms=perms), name=name)
    return Client(headers={"authorization": f"Bearer {key}"})


def post(client: Client, path: str, data: Any) -> Any:
    return client.post(path, json.dumps(data), content_type="application/json")


@pytest.fixture
def adder(db: None) -> Client:
    return bearer("view_queuejob", "add_queuejob")


def test_internal_type_is_refused_to_a_caller_with_add_permission(adder: Client) -> None:
    response = post(adder, "/api/jobs", WEBHOOK)
    assert response.status_code == 403
    assert response.json()["detail"][0]["field"] == "type"
    assert "jobs.enqueue_notification.webhook" in response.json()["detail"][0]["message"]
    assert not QueueJob.objects.exists()


def test_the_dedicated_permission_allows_an_internal_type(db: None) -> None:
    client = bearer("view_queuejob", "add_queuejob", "enqueue_notification.webhook")
    public = {**WEBHOOK, "payload": {**WEBHOOK["payload"], "url": "https://hooks.example.com/in"}}
    assert post(client, "/api/jobs", public).status_code == 202
    assert post(client, "/api/jobs", WEBHOOK).status_code == 422  # and the SSRF guard still holds


def test_bulk_refuses_the_forbidden_items_only(adder: Client) -> None:
    response = post(adder, "/api/jobs/bulk", {"jobs": [{"type": "demo.noop"}, WEBHOOK, EMAIL]})
    body = response.json()
    assert response.status_code == 200
    assert [item["code"] for item in body["items"]] == [202, 403, 403]
    assert (body["accepted"], body["rejected"]) == (1, 2)
    assert list(QueueJob.objects.values_list("type", flat=True)) == ["demo.noop"]


def test_email_needs_its_own_permission_and_cannot_relay(db: None, adder: Client) -> None:
    assert post(adder, "/api/jobs", EMAIL).status_code == 403
    mailer = bearer("add_queuejob", "enqueue_email.send", name="mailer")
    assert post(mailer, "/api/jobs", EMAIL).status_code == 202

    spoofed = post(mailer, "/api/jobs", {**EMAIL, "payload": {**EMAIL["payload"], "from_email": "ceo@bank.com"}})
    assert spoofed.status_code == 422
    assert [e["field"] for e in spoofed.json()["detail"]] == ["payload.from_email"]
    many = [f"r{i}@example.com" for i in range(11)]
    spam = post(mailer, "/api/jobs", {**EMAIL, "payload": {**EMAIL["payload"], "to": many}})
    assert spam.status_code == 422 and [e["field"] for e in spam.json()["detail"]] == ["payload.to"]
    assert QueueJob.objects.count() == 1


@override_settings(EMAIL_ALLOWED_FROM=["news@example.com"], EMAIL_MAX_RECIPIENTS=2)
def test_email_allow_list_and_recipient_limit_are_settings(db: None) -> None:
    mailer = bearer("add_queuejob", "enqueue_email.send", name="mailer")
    payload = {**EMAIL["payload"], "from_email": "News@Example.com", "to": ["a@example.com", "b@example.com"]}
    assert post(mailer, "/api/jobs", {**EMAIL, "payload": payload}).status_code == 202
    payload["to"].append("c@example.com")
    assert post(mailer, "/api/jobs", {**EMAIL, "payload": payload}).status_code == 422


@override_settings(JOB_TYPE_ACCESS={"demo.noop": "restricted"})
def test_a_deployment_can_restrict_a_public_type(adder: Client) -> None:
    assert post(adder, "/api/jobs", {"type": "demo.noop"}).status_code == 403
    listed = {jt["name"]: jt for jt in adder.get("/api/job-types").json()}
    assert (listed["demo.noop"]["access"], listed["demo.noop"]["can_enqueue"]) == ("restricted", False)
    assert (listed["demo.sleep"]["access"], listed["demo.sleep"]["can_enqueue"]) == ("public", True)


def test_priority_zero_takes_a_permission(db: None, adder: Client) -> None:
    response = post(adder, "/api/jobs", {"type": "demo.noop", "priority": 0})
    assert response.status_code == 403 and response.json()["detail"][0]["field"] == "priority"
    boss = bearer("add_queuejob", "prioritize_queuejob", name="boss")
    assert post(boss, "/api/jobs", {"type": "demo.noop", "priority": 0}).status_code == 202


@pytest.mark.parametrize(("fields", "field"), [
    ({"timeout": 3601}, "timeout"),  # the default queue's max_timeout
    ({"max_attempts": 26}, "max_attempts"),  # its max_attempts
    ({"run_at": (timezone.now() + timedelta(days=3660)).isoformat()}, "run_at"),  # beyond delay's horizon
])
def test_callers_cannot_ask_beyond_the_ceilings(adder: Client, fields: dict, field: str) -> None:
    response = post(adder, "/api/jobs", {"type": "demo.noop", **fields})
    assert response.status_code == 422 and [e["field"] for e in response.json()["detail"]] == [field]


def test_a_queue_can_raise_its_ceilings(adder: Client, settings: Any) -> None:
    settings.JOB_QUEUES = {**settings.JOB_QUEUES,
                           "default": {**settings.JOB_QUEUES["default"], "max_timeout": 7200, "max_attempts": 40}}
    assert post(adder, "/api/jobs", {"type": "demo.noop", "timeout": 7000, "max_attempts": 40}).status_code == 202


def test_unique_keys_are_scoped_by_type(adder: Client) -> None:
    first = post(adder, "/api/jobs", {"type": "demo.noop", "unique_key": "k", "delay": 3600})
    other = post(adder, "/api/jobs", {"type": "demo.sleep", "unique_key": "k"})
    assert (first.status_code, other.status_code) == (202, 202)
    again = post(adder, "/api/jobs", {"type": "demo.noop", "unique_key": "k"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]


def test_a_duplicate_shows_only_its_id_to_a_caller_who_cannot_view(db: None) -> None:
    owner = bearer("add_queuejob", "view_queuejob", name="owner")
    post(owner, "/api/jobs", {"type": "demo.noop", "unique_key": "k"})
    blind = bearer("add_queuejob", name="blind")
    answer = post(blind, "/api/jobs", {"type": "demo.noop", "unique_key": "k"})
    assert answer.status_code == 200 and answer.json() == {"id": answer.json()["id"], "status": None,
                                                           "status_url": None, "warnings": []}


# --- Dashboard ---------------------------------------------------------------------


@pytest.fixture
def dashboard(db: None) -> Client:
    client = Client()
    client.force_login(make_user("clerk", perms=("view_queuejob", "add_queuejob")))
    return client


def test_dashboard_offers_and_accepts_only_enqueueable_types(dashboard: Client) -> None:
    choose = dashboard.get("/admin/queues/add/").content.decode()
    assert "demo.noop" in choose and "notification.webhook" not in choose and "email.send" not in choose
    assert dashboard.get("/admin/queues/add/notification.webhook/").status_code == 403
    posted = dashboard.post("/admin/queues/add/notification.webhook/", {"url": "http://10.0.0.1/", "event": "{}"})
    assert posted.status_code == 403 and not QueueJob.objects.exists()


def test_dashboard_refuses_priority_zero_without_the_permission(dashboard: Client) -> None:
    response = dashboard.post("/admin/queues/add/demo.noop/", {"job_queue": "default", "job_priority": "0"})
    assert response.status_code == 200 and "priority 0 needs" in response.content.decode()
    assert not QueueJob.objects.exists()


def test_schedule_admin_offers_only_enqueueable_types(db: None) -> None:
    client = Client()
    client.force_login(make_user("planner", perms=("add_queuejob", "add_schedule", "view_schedule")))
    page = client.get("/admin/jobs/schedule/add/").content.decode()
    assert 'value="demo.noop"' in page and 'value="notification.webhook"' not in page
    response = client.post("/admin/jobs/schedule/add/", {
        "name": "exfiltrate", "job_type": "notification.webhook", "payload": json.dumps(WEBHOOK["payload"]),
        "cron": "* * * * *", "timezone": "UTC", "enabled": "on", "misfire_policy": "fire_once"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()


# --- CLI ---------------------------------------------------------------------------


def test_enqueue_job_refuses_internal_types_unless_told(db: None) -> None:
    payload = json.dumps({**WEBHOOK["payload"], "url": "https://hooks.example.com/in"})
    with pytest.raises(CommandError, match="internal job type") as refused:
        call_command("enqueue_job", "notification.webhook", "--payload", payload, stdout=io.StringIO())
    assert refused.value.returncode == 2 and not QueueJob.objects.exists()
    call_command("enqueue_job", "notification.webhook", "--payload", payload, "--allow-internal",
                 stdout=io.StringIO())
    assert QueueJob.objects.get().type == "notification.webhook"
