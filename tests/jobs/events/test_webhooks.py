"""Webhooks: signed deliveries as jobs of their own, written with the state change, retried, never in
the way of the job they report on."""
from __future__ import annotations

import json
import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.test import override_settings

from jobs.core.errors import JobTypeError
from jobs.core.states import JobStatus
from jobs.engine.build import build_job
from jobs.engine.enqueue import job_enqueue
from jobs.engine.transitions import jobs_cancel
from jobs.events.webhooks import WEBHOOK_JOB_TYPE, sign, webhook_body
from jobs.execution.runner import run_job
from jobs.models import QueueJob
from jobsite.settings import _webhook_allowed_hosts, _webhook_urls
from tests.conftest import Processes, wait_for
from tests.jobs.api.test_views import bearer_client, make_user, post_json
from tests.jobs.events.receivers import Receiver, deliveries, verify

SECRET = "test-webhook-secret"
#: A public address: enqueue accepts it without DNS; these tests never connect to it.
PUBLIC = "https://93.184.215.14/in"
#: What the tests' own process needs to reach the loopback receivers.
loopback_hooks = override_settings(WEBHOOK_SECRET=SECRET, WEBHOOK_ALLOWED_HOSTS=["127.0.0.1"])


def events_of(receiver: Receiver) -> list[str]:
    return [json.loads(body)["event"] for _, body in receiver.requests]


@pytest.mark.django_db(transaction=True)
def test_a_jobs_webhook_gets_its_lifecycle_events_signed(receiver: Receiver, processes: Processes) -> None:
    env = processes.env(WEBHOOK_SECRET=SECRET, WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    processes.worker("default", "notification", env=env)
    with loopback_hooks:
        job = job_enqueue(type="demo.sleep", payload={"seconds": 0.2, "steps": 2}, webhook_url=receiver.url).job
    wait_for(lambda: len(receiver.requests) >= 3, message="enqueued, active and completed deliveries")
    wait_for(lambda: all(d.status == JobStatus.COMPLETED for d in deliveries()), message="deliveries completed")

    assert sorted(events_of(receiver)) == sorted(["job:enqueued", "job:active", "job:completed"])  # no ticks
    for headers, body in receiver.requests:
        assert verify(headers, body, SECRET)
        message = json.loads(body)
        assert message["type"] == "job.event" and message["job"]["id"] == str(job.id) and message["at"]
        assert "seq" not in message  # written before the stream numbers the event
        assert headers["content-type"] == "application/json" and headers["x-event"] == message["event"]
        assert headers["x-delivery"] in {str(d.id) for d in deliveries()}
    completed = next(json.loads(b) for _, b in receiver.requests if json.loads(b)["event"] == "job:completed")
    assert completed["job"]["result"] == {"slept": 0.2} and completed["job"]["status"] == "completed"
    # The deliveries' own events (enqueued, active, completed) caused no webhooks of their own.
    assert len(deliveries()) == 3


@pytest.mark.django_db(transaction=True)
def test_a_failing_receiver_is_retried_and_never_affects_the_job(receiver: Receiver, processes: Processes) -> None:
    receiver.status = 500
    env = processes.env(WEBHOOK_SECRET=SECRET, WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    processes.worker("default", "notification", env=env)
    processes.scheduler(env=env)  # promotes retrying deliveries
    with loopback_hooks:
        job = job_enqueue(type="demo.noop", payload={}, webhook_url=receiver.url).job

    retried = wait_for(lambda: QueueJob.objects.filter(type=WEBHOOK_JOB_TYPE, attempts__gte=2).first(),
                       message="a delivery's second attempt")
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and job.attempts == 1
    assert "WebhookFailed" in retried.error and "answered 500" in retried.error
    wait_for(lambda: [h["x-delivery"] for h, _ in receiver.requests].count(str(retried.id)) >= 2,
             message="the same delivery twice")
    same = [body for headers, body in receiver.requests if headers["x-delivery"] == str(retried.id)]
    assert len(set(same)) == 1  # a retry sends the very same bytes (signed anew with its own timestamp)


@pytest.mark.django_db(transaction=True)
def test_a_receiver_that_keeps_failing_leaves_a_failed_delivery(receiver: Receiver) -> None:
    receiver.status = 503
    event = {"type": "job.event", "event": "job:failed", "job": {"id": "x"}, "at": "now"}
    with loopback_hooks:
        delivery = job_enqueue(type=WEBHOOK_JOB_TYPE, payload={"url": receiver.url, "event": event},
                               max_attempts=2).job
        for _ in range(2):
            QueueJob.objects.filter(pk=delivery.pk).update(status=JobStatus.PENDING)
            run_job(str(delivery.id))
    delivery.refresh_from_db()
    assert delivery.status == JobStatus.FAILED and delivery.attempts == 2  # the dead-letter queue
    assert len(receiver.requests) == 2


@pytest.mark.django_db(transaction=True)
def test_global_webhook_urls_get_their_events(receiver: Receiver) -> None:
    with loopback_hooks, override_settings(WEBHOOK_URLS={"job:failed": [receiver.url]}):
        job = job_enqueue(type="demo.fail", payload={"permanent": True, "message": "boom"}).job
        assert deliveries() == []  # job:enqueued has no receiver: nothing enqueued
        run_job(str(job.id))
        (delivery,) = deliveries()  # written by the run's finish, not by anything after it
        assert delivery.payload["event"]["event"] == "job:failed" and delivery.queue == "notification"
        assert delivery.correlation_id == str(job.id)
        run_job(str(delivery.id))
    headers, body = receiver.requests[0]
    assert json.loads(body)["job"]["error"] == "PermanentError: boom"
    assert headers["x-signature"] == sign(body, SECRET, headers["x-webhook-timestamp"])
    assert body == webhook_body(delivery.payload["event"])


# --- the outbox: a delivery is written in the transaction of its state change -------------


@pytest.mark.django_db  # one transaction, rolled back: nothing registered with on_commit ever runs
def test_deliveries_are_written_with_the_state_change_not_after_its_commit() -> None:
    api = bearer_client(make_user("producer", "add_queuejob", "view_queuejob", "cancel_queuejob"))
    with override_settings(WEBHOOK_SECRET=SECRET):
        answer = post_json(api, "/api/jobs", {"type": "demo.noop", "webhook_url": PUBLIC})
        assert answer.status_code == 202
        job_id = answer.json()["id"]
        assert post_json(api, f"/api/jobs/{job_id}/cancel").status_code == 202
    written = [(d.payload["event"]["event"], d.payload["event"]["job"]["id"], d.payload["url"]) for d in deliveries()]
    assert written == [("job:enqueued", job_id, PUBLIC), ("job:cancelled", job_id, PUBLIC)]
    assert all(d.status == JobStatus.PENDING and d.rq_id for d in deliveries())  # dispatched on commit


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_state_change_leaves_no_delivery() -> None:
    with override_settings(WEBHOOK_SECRET=SECRET):
        job = job_enqueue(type="demo.noop", payload={}, delay=60, webhook_url=PUBLIC).job
        with pytest.raises(RuntimeError), transaction.atomic():
            assert jobs_cancel([job.id]) and len(deliveries()) == 2  # job:enqueued, then job:cancelled
            raise RuntimeError("the caller's transaction fails")
    job.refresh_from_db()
    assert job.status == JobStatus.SCHEDULED
    assert [d.payload["event"]["event"] for d in deliveries()] == ["job:enqueued"]


# --- signatures -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_delivery_signs_its_timestamp_and_a_replay_is_refused_by_the_receiver(receiver: Receiver) -> None:
    api = bearer_client(make_user("producer", "add_queuejob", "view_queuejob"))
    with loopback_hooks:
        answer = post_json(api, "/api/jobs", {"type": "demo.noop", "webhook_url": receiver.url})
        assert answer.status_code == 202
        (delivery,) = deliveries()
        run_job(str(delivery.id))
    (headers, body), = receiver.requests
    sent_at = int(headers["x-webhook-timestamp"])
    assert abs(time.time() - sent_at) < 60
    assert headers["x-signature"] == sign(body, SECRET, str(sent_at))
    assert verify(headers, body, SECRET)
    assert not verify(headers, body, SECRET, now=sent_at + 301)  # the same request replayed later
    assert not verify({**headers, "x-webhook-timestamp": str(sent_at + 10)}, body, SECRET)  # re-stamped


@pytest.mark.django_db
def test_api_refuses_a_jobs_webhook_url_when_the_server_has_no_secret() -> None:
    api = bearer_client(make_user("producer", "add_queuejob", "view_queuejob"))
    with override_settings(WEBHOOK_SECRET=""):
        refused = post_json(api, "/api/jobs", {"type": "demo.noop", "webhook_url": PUBLIC})
    assert refused.status_code == 422
    (error,) = refused.json()["detail"]
    assert error["field"] == "webhook_url" and "WEBHOOK_SECRET" in error["message"]
    assert not QueueJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_nothing_goes_out_unsigned(receiver: Receiver) -> None:
    event = {"type": "job.event", "event": "job:failed", "job": {"id": "x"}, "at": "now"}
    with override_settings(WEBHOOK_SECRET="", WEBHOOK_ALLOWED_HOSTS=["127.0.0.1"]):
        delivery = job_enqueue(type=WEBHOOK_JOB_TYPE, payload={"url": receiver.url, "event": event}).job
        run_job(str(delivery.id))
    delivery.refresh_from_db()
    assert delivery.status == JobStatus.FAILED and delivery.attempts == 1  # not retried: it cannot help
    assert "WebhookRefused" in delivery.error and "WEBHOOK_SECRET" in delivery.error
    assert receiver.requests == []


# --- settings and the form of a URL -------------------------------------------------------


def test_webhook_urls_setting_format() -> None:
    assert _webhook_urls("") == {}
    parsed = _webhook_urls(" job:failed=https://a.example/b , job:completed=http://c.example/d?x=1 ")
    assert parsed == {"job:failed": ["https://a.example/b"], "job:completed": ["http://c.example/d?x=1"]}
    everything = _webhook_urls("*=https://all.example/")
    assert set(everything) == {"job:enqueued", "job:active", "job:retrying", "job:completed", "job:failed",
                               "job:cancelled"}
    for bad in ("job:failed", "job:nope=https://a.example", "job:failed=ftp://a.example", "job:progress=https://x.y"):
        with pytest.raises(ImproperlyConfigured, match="WEBHOOK_URLS"):
            _webhook_urls(bad)


def test_webhook_allowed_hosts_setting_format() -> None:
    assert _webhook_allowed_hosts(["Hooks.Internal.", "10.1.2.0/24", "::1", "127.0.0.1"]) == [
        "hooks.internal", "10.1.2.0/24", "::1", "127.0.0.1"]
    for bad in ("http://hooks.internal", "10.0.0.0/33", "a b", "-x-"):
        with pytest.raises(ImproperlyConfigured, match="WEBHOOK_ALLOWED_HOSTS"):
            _webhook_allowed_hosts([bad])


@pytest.mark.django_db
@override_settings(WEBHOOK_SECRET=SECRET)
def test_only_http_webhook_urls_are_accepted_at_enqueue() -> None:
    assert build_job(type="demo.noop", webhook_url=PUBLIC).webhook_url == PUBLIC
    for bad in ("ftp://hooks.example/x", "javascript:alert(1)", "https://", "hooks.example/x",
                "http://bad port.example/", "http://a.example:99999/", "http://user:pw@93.184.215.14/",
                "http://93.184.215.14/caf\u00e9", "http://93.184.215.14/\x00"):
        with pytest.raises(JobTypeError) as info:
            build_job(type="demo.noop", webhook_url=bad)
        assert info.value.errors[0]["field"] == "webhook_url", bad
    with pytest.raises(JobTypeError) as info:  # the storable-text check of every other text (jobs/core/validation.py)
        build_job(type="demo.noop", webhook_url="http://93.184.215.14/\ud800")
    assert info.value.errors[0]["message"] == "must be valid Unicode (no lone surrogates)"


@pytest.mark.django_db
@override_settings(WEBHOOK_SECRET=SECRET)
def test_api_refuses_a_non_http_webhook_url_with_422() -> None:
    api = bearer_client(make_user("producer", "add_queuejob", "view_queuejob"))
    refused = post_json(api, "/api/jobs", {"type": "demo.noop", "webhook_url": "file:///etc/passwd"})
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["detail"]] == ["webhook_url"]
    accepted = post_json(api, "/api/jobs", {"type": "demo.noop", "webhook_url": PUBLIC})
    assert accepted.status_code == 202
    assert QueueJob.objects.get(pk=accepted.json()["id"]).webhook_url == PUBLIC


@pytest.mark.django_db
@override_settings(WEBHOOK_SECRET=SECRET)
def test_api_refuses_a_webhook_url_postgresql_cannot_store_with_422() -> None:
    api = bearer_client(make_user("producer", "add_queuejob", "view_queuejob"))
    body = '{"type": "demo.noop", "webhook_url": "https://93.184.215.14/\\ud800"}'  # a lone surrogate
    refused = post_json(api, "/api/jobs", body)
    assert refused.status_code == 422  # the schema refuses it; build_job too (the Python API, above)
    assert [e["field"] for e in refused.json()["detail"]] == ["webhook_url"]
    assert not QueueJob.objects.exists()
