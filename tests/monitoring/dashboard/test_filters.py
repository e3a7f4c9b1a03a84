"""The dashboard's filter and search (jobs.selectors.filters): by id, id prefix, payload text, error text, group."""
from __future__ import annotations

import pytest
from django.db import connection

from jobs.engine.enqueue import job_enqueue
from jobs.models import QueueJob
from jobs.selectors.filters import FilterError, JobFilter

pytestmark = pytest.mark.django_db


def email(to: str, subject: str) -> QueueJob:
    return job_enqueue(type="email.send", payload={"to": [to], "subject": subject, "body": "hi"}).job


def found(**kwargs: object) -> set:
    return set(JobFilter(**kwargs).queryset().values_list("id", flat=True))


def test_search_by_id_prefix_payload_and_error() -> None:
    a = email("ada@example.com", "Invoice 2024-17")
    b = email("bob@example.com", "Welcome")
    QueueJob.objects.filter(pk=b.id).update(status="failed", error="SMTPRecipientsRefused: 550 mailbox full")
    assert found(q=str(a.id)) == {a.id}
    assert found(q=str(a.id).upper()) == {a.id}
    assert a.id in found(q=str(a.id)[:8])  # the short id the lists show
    assert found(q="INVOICE 2024") == {a.id}  # case-insensitive, anywhere in the payload
    assert found(q="mailbox full") == {b.id}
    assert found(q="example.com") == {a.id, b.id}
    assert found(q="100%_off") == set()  # LIKE wildcards are searched for literally
    with pytest.raises(FilterError):
        found(q="ab")


def test_search_uses_the_trigram_indexes() -> None:
    sql, params = JobFilter(q="invoice").queryset().order_by().query.sql_with_params()
    with connection.cursor() as cursor:  # an empty table: tell the planner to behave as with a big one
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "job_payload_trgm" in plan and "job_error_trgm" in plan, plan


def test_error_groups_blank_out_numbers_and_ids() -> None:
    jobs = [email(f"u{i}@example.com", "s") for i in range(3)]
    QueueJob.objects.filter(pk=jobs[0].id).update(status="failed", error="HTTPError: 503 from https://h/17")
    QueueJob.objects.filter(pk=jobs[1].id).update(status="failed", error="HTTPError: 502 from https://h/4")
    QueueJob.objects.filter(pk=jobs[2].id).update(
        status="failed", error=f"KeyError: job {jobs[2].id} missing\nTraceback (most recent call last): ...")
    signatures = dict(QueueJob.objects.values_list("id", "error_signature"))
    assert signatures[jobs[0].id] == signatures[jobs[1].id] == "HTTPError: N from https://h/N"
    assert signatures[jobs[2].id] == "KeyError: job <id> missing"
    assert found(statuses=("failed",), error_signature="HTTPError: N from https://h/N") == {jobs[0].id, jobs[1].id}


def test_narrowing_to_an_actions_states() -> None:
    job = email("c@example.com", "s")
    assert found(ids=(job.id,)) == {job.id}
    assert JobFilter(statuses=("completed",)).only({"failed"}).empty
    assert found(**vars(JobFilter(ids=(job.id,)).only({"failed", "cancelled"}))) == set()
    assert JobFilter(queue="email", statuses=("failed",), type="email.send", q="x y z").describe() == \
        "queue=email, state=failed, type=email.send, search='x y z'"
