"""GET /metrics: exact counts across worker processes and restarts, gauges equal to the dashboard's, access."""
from __future__ import annotations

import ipaddress
import urllib.error
import urllib.request
from typing import Any

import pytest
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from jobs.api.tokens import api_token_create
from jobs.engine.bulk import jobs_delete_where
from jobs.engine.enqueue import job_enqueue_many
from jobs.events.metrics import counts
from jobs.models import QueueJob
from jobs.selectors.counts import job_counts
from jobs.selectors.filters import JobFilter
from tests.conftest import Processes, make_user, wait_for

FAST_FLUSH = {"METRICS_FLUSH_SECONDS": "0.2"}


def scrape(base: str, key: str | None) -> tuple[int, str]:
    request = urllib.request.Request(f"{base}/metrics", headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


@pytest.mark.django_db(transaction=True)
def test_metrics_count_exactly_across_two_workers_and_a_restart_and_never_go_down(
        server: str, processes: Processes) -> None:
    _, key = api_token_create(user=make_user("prometheus"), name="scraper", scopes=["metrics"])
    env = processes.env(**FAST_FLUSH)

    first = job_enqueue_many([{"type": "demo.noop"} for _ in range(4)])
    worker = processes.worker("default", env=env)
    wait_for(lambda: QueueJob.objects.filter(status="completed").count() == 4, message="the first jobs")
    worker.terminate()  # a restart: what it counted must survive it
    assert worker.wait(timeout=15) == 0

    second = job_enqueue_many([{"type": "demo.noop"} for _ in range(3)]
                              + [{"type": "demo.fail", "payload": {"permanent": True}} for _ in range(2)])
    counts.flush()  # this test process counted the enqueues
    processes.worker("default", env=env)  # the restarted one
    processes.worker("default", env=env)
    wait_for(lambda: QueueJob.objects.filter(status__in=["completed", "failed"]).count() == 9, message="all jobs")

    def scraped() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        status, text = scrape(server, key)
        assert status == 200, text
        return samples(text)

    noop, fail = {"queue": "default", "type": "demo.noop"}, {"queue": "default", "type": "demo.fail"}
    wait_for(lambda: value(scraped(), "job_duration_seconds_count", **noop) == 7 and
             value(scraped(), "job_duration_seconds_count", **fail) == 2, message="the workers' counts")
    found = scraped()
    assert value(found, "jobs_enqueued_total", **noop) == 7 and value(found, "jobs_enqueued_total", **fail) == 2
    assert value(found, "jobs_processed_total", **noop, outcome="completed") == 7
    assert value(found, "jobs_processed_total", **fail, outcome="error") == 2
    assert value(found, "jobs_failed_total", **fail) == 2 and value(found, "jobs_failed_total", **noop) == 0
    assert value(found, "job_duration_seconds_bucket", **noop, le="+Inf") == 7
    assert 0 < value(found, "job_duration_seconds_sum", **noop) < 7
    assert value(found, "job_wait_seconds_count", **noop) == 7
    kept = job_counts()
    for state, n in kept["default"].items():
        assert value(found, "queue_jobs", queue="default", state=state) == n
    assert value(found, "workers", queue="default") == 2
    assert value(found, "worker_slots_busy", queue="default") == 0

    # Retention deletes the jobs: the counters stay where they were.
    assert jobs_delete_where(JobFilter(ids=tuple(j.id for j in first + second))) == 9
    after = scraped()
    for name, labels in [("jobs_enqueued_total", noop), ("jobs_failed_total", fail),
                         ("job_duration_seconds_count", noop)]:
        assert value(after, name, **labels) == value(found, name, **labels)
    assert value(after, "queue_jobs", queue="default", state="completed") == 0


@pytest.mark.django_db
def test_metrics_need_a_metrics_token_of_a_viewer_or_a_listed_network() -> None:
    viewer = make_user("viewer")
    _, metrics_key = api_token_create(user=viewer, name="scraper", scopes=["metrics"])
    _, read_key = api_token_create(user=viewer, name="reader", scopes=["read"])
    _, nobody_key = api_token_create(user=make_user("nobody", perms=()), name="x", scopes=["metrics"])

    def get(key: str | None = None, **extra: Any) -> Any:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        return Client(headers=headers).get("/metrics", **extra)

    anonymous = get()
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"].startswith("Bearer")
    assert get("jq_not-a-token").status_code == 401
    assert get(read_key).status_code == 403  # a token's other scopes do not let it scrape
    assert get(nobody_key).status_code == 403  # nor does a token of someone who may not see jobs
    scraped = get(metrics_key)
    assert scraped.status_code == 200 and scraped["Content-Type"].startswith("text/plain")
    assert "# TYPE jobs_enqueued_total counter" in scraped.content.decode()
    with override_settings(METRICS_ALLOWED_NETWORKS=[ipaddress.ip_network("10.0.0.0/8")]):
        assert get(REMOTE_ADDR="10.1.2.3").status_code == 200
        assert get(REMOTE_ADDR="192.168.1.2").status_code == 401
    assert Client().post("/metrics").status_code == 405
    # A token with only the metrics scope can do nothing in the API.
    assert Client(headers={"authorization": f"Bearer {metrics_key}"}).get("/api/jobs").status_code == 403
