"""Webhooks: signed deliveries as jobs of their own, retried, never in the way of the job they report on."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from jobs.core.errors import JobTypeError
from jobs.core.states import JobStatus
from jobs.engine.enqueue import build_job, job_enqueue
from jobs.events import emit as events
from jobs.events.webhooks import WEBHOOK_JOB_TYPE, sign, webhook_body
from jobs.execution.runner import run_job
from jobs.models import QueueJob
from jobsite.settings import _webhook_urls
from tests.conftest import Processes, wait_for
from tests.jobs.api.test_views import bearer_client, make_user, post_json

SECRET = "test-webhook-secret"


class Receiver:
    """A loopback HTTP server that records every POST and answers ``status``."""

    def __init__(self) -> None:
        self.status = 200
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def events(self) -> list[str]:
        return [json.loads(body)["event"] for _, body in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    thread = threading.Thread(target=rec.server.serve_forever, daemon=True)
    thread.start()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


def deliveries() -> list[QueueJob]:
    return list(QueueJob.objects.filter(type=WEBHOOK_JOB_TYPE).order_by("created_at"))


@pytest.mark.django_db(transaction=True)
def test_a_jobs_webhook_gets_its_lifecycle_events_signed(receiver: Receiver, processes: Processes) -> None:
    env = processes.env(WEBHOOK_SECRET=SECRET)
    processes.worker("default", "notification", env=env)
    job = job_enqueue(type="demo.sleep", payload={"seconds": 0.2, "steps": 2}, webhook_url=receiver.url).job
    wait_for(lambda: len(receiver.requests) >= 3, message="enqueued, active and completed deliveries")
    wait_for(lambda: all(d.status == JobStatus.COMPLETED for d in deliveries()), message="deliveries completed")

    assert sorted(receiver.events()) == sorted(["job:enqueued", "job:active", "job:completed"])  # no ticks
    for headers, body in receiver.requests:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-signature"], expected)
        message = json.loads(body)
        assert message["type"] == "job.event" and message["job"]["id"] == str(job.id) and message["seq"]
        assert headers["content-type"] == "application/json" and headers["x-event"] == message["event"]
        assert headers["x-delivery"] in {str(d.id) for d in deliveries()}
    completed = next(json.loads(b) for _, b in receiver.requests if json.loads(b)["event"] == "job:completed")
    assert completed["job"]["result"] == {"slept": 0.2} and completed["job"]["status"] == "completed"
    # The deliveries' own events (enqueued, active, completed) caused no webhooks of their own.
    assert len(deliveries()) == 3


@pytest.mark.django_db(transaction=True)
def test_a_failing_receiver_is_retried_and_never_affects_the_job(receiver: Receiver, processes: Processes) -> None:
    receiver.status = 500
    env = processes.env(WEBHOOK_SECRET=SECRET)
    processes.worker("default", "notification", env=env)
    processes.scheduler(env=env)  # promotes retrying deliveries
    job = job_enqueue(type="demo.noop", payload={}, webhook_url=receiver.url).job

    retried = wait_for(lambda: QueueJob.objects.filter(type=WEBHOOK_JOB_TYPE, attempts__gte=2).first(),
                       message="a delivery's second attempt")
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and job.attempts == 1
    assert "WebhookFailed" in retried.error and "answered 500" in retried.error
    wait_for(lambda: [h["x-delivery"] for h, _ in receiver.requests].count(str(retried.id)) >= 2,
             message="the same delivery twice")
    same = [body for headers, body in receiver.requests if headers["x-delivery"] == str(retried.id)]
    assert len(set(same)) == 1  # a retry sends the very same (signed) bytes


@pytest.mark.django_db(transaction=True)
def test_a_receiver_that_keeps_failing_leaves_a_failed_delivery(receiver: Receiver) -> None:
    receiver.status = 503
    event = {"type": "job.event", "event": "job:failed", "job": {"id": "x"}, "seq": 1, "at": "now"}
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
    with override_settings(WEBHOOK_URLS={"job:failed": [receiver.url]}, WEBHOOK_SECRET=SECRET):
        job = job_enqueue(type="demo.fail", payload={"permanent": True, "message": "boom"}).job
        events.flush()
        assert deliveries() == []  # job:enqueued has no receiver: nothing enqueued
        run_job(str(job.id))
        events.flush()
        (delivery,) = deliveries()
        assert delivery.payload["event"]["event"] == "job:failed" and delivery.queue == "notification"
        assert delivery.correlation_id == str(job.id)
        run_job(str(delivery.id))
    headers, body = receiver.requests[0]
    assert json.loads(body)["job"]["error"] == "PermanentError: boom"
    assert headers["x-signature"] == sign(body, SECRET)
    assert body == webhook_body(delivery.payload["event"])


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


@pytest.mark.django_db
def test_only_http_webhook_urls_are_accepted_at_enqueue() -> None:
    assert build_job(type="demo.noop", webhook_url="https://hooks.example/x").webhook_url == "https://hooks.example/x"
    for bad in ("ftp://hooks.example/x", "javascript:alert(1)", "https://", "hooks.example/x",
                "http://bad port.example/", "http://a.example:99999/"):
        with pytest.raises(JobTypeError) as info:
            build_job(type="demo.noop", webhook_url=bad)
        assert info.value.errors[0]["field"] == "webhook_url", bad


@pytest.mark.django_db
def test_api_refuses_a_non_http_webhook_url_with_422() -> None:
    api = bearer_client(make_user("producer", "add_queuejob", "view_queuejob"))
    refused = post_json(api, "/api/jobs", {"type": "demo.noop", "webhook_url": "file:///etc/passwd"})
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["detail"]] == ["webhook_url"]
    accepted = post_json(api, "/api/jobs", {"type": "demo.noop", "webhook_url": "https://hooks.example/in"})
    assert accepted.status_code == 202
    assert QueueJob.objects.get(pk=accepted.json()["id"]).webhook_url == "https://hooks.example/in"
