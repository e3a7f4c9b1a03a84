"""/healthz is anonymous, so its cost must not grow with the backlog (issue 11, finding 9)."""
from __future__ import annotations

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from jobs.engine.enqueue import job_enqueue_many


def test_healthz_reads_maintained_counts_not_the_job_rows(db: None) -> None:
    job_enqueue_many([{"type": "demo.noop"}] * 300 + [{"type": "email.send", "payload": {
        "to": ["a@example.com"], "subject": "s", "body": "b"}}] * 2)
    with CaptureQueriesContext(connection) as queries:
        body = Client().get("/healthz").json()
    assert body["checks"]["queues"]["pending"]["default"] == 300
    assert body["checks"]["queues"]["pending"]["email"] == 2
    scans = [q["sql"] for q in queries.captured_queries
             if "jobs_queuejob" in q["sql"] and ("GROUP BY" in q["sql"] or "count(" in q["sql"].lower())]
    assert scans == []
