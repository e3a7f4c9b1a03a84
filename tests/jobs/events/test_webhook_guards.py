"""Webhook receivers an attacker might point inside (server-side request forgery), and receivers that
answer slowly or elsewhere: refused at enqueue, refused again at delivery, bounded in time."""
from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from jobs.core.states import JobStatus
from jobs.engine.enqueue import job_enqueue
from jobs.events.webhooks import WEBHOOK_JOB_TYPE
from jobs.execution.runner import run_job
from jobs.models import QueueJob
from tests.jobs.api.test_views import bearer_client, make_user, post_json
from tests.jobs.events.receivers import Dripper, Receiver, deliveries

SECRET = "test-webhook-secret"
EVENT = {"type": "job.event", "event": "job:failed", "job": {"id": "x"}, "at": "now"}
#: Loopback, private, link-local (cloud metadata), IPv6 loopback, a name for loopback, the same
#: addresses spelled otherwise, unspecified and multicast.
INSIDE = ("http://127.0.0.1:8000/x", "http://10.0.0.5/x", "http://169.254.169.254/latest/meta-data/",
          "http://[::1]:8000/x", "http://localhost:8000/x", "http://[::ffff:127.0.0.1]/x", "http://2130706433/x",
          "http://0.0.0.0/x", "http://224.0.0.1/x", "http://192.168.1.1/x", "http://[fe80::1]/x")


@pytest.mark.django_db
@override_settings(WEBHOOK_SECRET=SECRET)
def test_api_refuses_webhook_urls_that_point_inside_with_422() -> None:
    api = bearer_client(make_user("producer", "add_queuejob", "view_queuejob", "enqueue_notification.webhook"))
    for url in INSIDE:
        refused = post_json(api, "/api/jobs", {"type": "demo.noop", "webhook_url": url})
        assert refused.status_code == 422, url
        (error,) = refused.json()["detail"]
        assert error["field"] == "webhook_url" and "WEBHOOK_ALLOWED_HOSTS" in error["message"], url
    bulk = post_json(api, "/api/jobs/bulk", {"jobs": [{"type": "demo.noop", "webhook_url": INSIDE[2]}]})
    assert [(i["code"], [e["field"] for e in i["errors"]]) for i in bulk.json()["items"]] == [(422, ["webhook_url"])]
    # A delivery job enqueued directly: an address is refused at once (a name, when it is delivered).
    direct = post_json(api, "/api/jobs", {"type": WEBHOOK_JOB_TYPE, "payload": {"url": INSIDE[2], "event": EVENT}})
    assert direct.status_code == 422 and [e["field"] for e in direct.json()["detail"]] == ["payload.url"]
    assert not QueueJob.objects.exists()


@pytest.mark.django_db
def test_listed_hosts_and_networks_may_be_reached() -> None:
    api = bearer_client(make_user("producer", "add_queuejob", "view_queuejob"))
    with override_settings(WEBHOOK_SECRET=SECRET, WEBHOOK_ALLOWED_HOSTS=["localhost", "10.0.0.0/8"]):
        for url in ("http://localhost:8000/x", "http://10.0.0.5/x"):
            assert post_json(api, "/api/jobs", {"type": "demo.noop", "webhook_url": url}).status_code == 202, url
        refused = post_json(api, "/api/jobs", {"type": "demo.noop", "webhook_url": "http://192.168.1.1/x"})
        assert refused.status_code == 422


@pytest.mark.django_db(transaction=True)
def test_a_delivery_checks_its_receiver_again(receiver: Receiver) -> None:
    """What was allowed at enqueue is checked at delivery: the list changed, or the name now points inside."""
    api = bearer_client(make_user("producer", "add_queuejob", "view_queuejob", "enqueue_notification.webhook"))
    with override_settings(WEBHOOK_SECRET=SECRET, WEBHOOK_ALLOWED_HOSTS=["127.0.0.1"]):
        assert post_json(api, "/api/jobs", {"type": "demo.noop", "webhook_url": receiver.url}).status_code == 202
    named = post_json(api, "/api/jobs", {"type": WEBHOOK_JOB_TYPE, "payload": {
        "url": f"http://localhost:{receiver.port}/hook", "event": EVENT}})
    assert named.status_code == 202  # a name is resolved when it is delivered
    with override_settings(WEBHOOK_SECRET=SECRET):
        for delivery in deliveries():
            run_job(str(delivery.id))
    by_address, by_name = deliveries()
    for delivery in (by_address, by_name):
        assert delivery.status == JobStatus.FAILED and delivery.attempts == 1, delivery.payload  # not retried
    # An address fails its payload's own check; a name is refused by the delivery, after resolving it.
    assert by_address.error == "JobTypeError: invalid payload for notification.webhook"
    assert "WebhookRefused" in by_name.error and "localhost (" in by_name.error
    assert receiver.requests == []


@pytest.mark.django_db(transaction=True)
def test_a_delivery_connects_to_the_address_it_checked(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the name answers an allowed address first and another one after; the delivery must
    not ask twice (a check, then a connect that resolves again, would reach the second address)."""
    elsewhere = Receiver("127.0.0.2", receiver.port)
    answers = iter(["127.0.0.1"])
    real = socket.getaddrinfo

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":
            host = next(answers, "127.0.0.2")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    try:
        with override_settings(WEBHOOK_SECRET=SECRET, WEBHOOK_ALLOWED_HOSTS=["127.0.0.1/32"]):
            delivery = job_enqueue(type=WEBHOOK_JOB_TYPE, payload={
                "url": f"http://rebind.test:{receiver.port}/hook", "event": EVENT}).job
            run_job(str(delivery.id))
    finally:
        elsewhere.close()
    delivery.refresh_from_db()
    assert delivery.status == JobStatus.COMPLETED, delivery.error
    assert len(receiver.requests) == 1 and elsewhere.requests == []
    assert receiver.requests[0][0]["host"] == f"rebind.test:{receiver.port}"  # the name, as the URL has it


@pytest.mark.django_db(transaction=True)
def test_a_receiver_dripping_its_answer_cannot_hold_a_delivery_past_its_deadline() -> None:
    dripper = Dripper(every=0.1)
    try:
        with override_settings(WEBHOOK_SECRET=SECRET, WEBHOOK_ALLOWED_HOSTS=["127.0.0.1"], WEBHOOK_TIMEOUT=0.5):
            delivery = job_enqueue(type=WEBHOOK_JOB_TYPE, payload={"url": dripper.url, "event": EVENT}).job
            started = time.monotonic()
            run_job(str(delivery.id))
            took = time.monotonic() - started
    finally:
        dripper.close()
    delivery.refresh_from_db()
    assert dripper.connections == 1
    assert took < 1.5, took  # per read, a byte every 0.1 s would have kept it for the job's whole time limit
    assert delivery.status == JobStatus.RETRYING and "did not answer within 0.5 s" in delivery.error


@pytest.mark.django_db(transaction=True)
def test_a_redirect_is_a_failure_and_is_not_followed(receiver: Receiver) -> None:
    target = Receiver()
    receiver.status, receiver.location = 302, target.url
    try:
        with override_settings(WEBHOOK_SECRET=SECRET, WEBHOOK_ALLOWED_HOSTS=["127.0.0.1"]):
            delivery = job_enqueue(type=WEBHOOK_JOB_TYPE, payload={"url": receiver.url, "event": EVENT}).job
            run_job(str(delivery.id))
    finally:
        target.close()
    delivery.refresh_from_db()
    assert delivery.status == JobStatus.RETRYING and "answered 302 (redirects are not followed)" in delivery.error
    assert len(receiver.requests) == 1 and target.requests == []


def test_manage_py_check_refuses_global_receivers_that_point_inside() -> None:
    with override_settings(WEBHOOK_SECRET=SECRET, WEBHOOK_URLS={"job:failed": ["http://169.254.169.254/x"]}):
        with pytest.raises(SystemCheckError, match=r"jobs\.E102.*169\.254\.169\.254"):
            call_command("check")
    with override_settings(WEBHOOK_SECRET=SECRET, WEBHOOK_URLS={"job:failed": ["http://169.254.169.254/x"]},
                           WEBHOOK_ALLOWED_HOSTS=["169.254.169.254"]):
        call_command("check")
