from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from jobs.core.errors import JobTypeError
from jobs.core.states import JobStatus
from jobs.engine.dispatch import get_rq_queue, rq_queue_name
from jobs.engine.enqueue import job_enqueue, job_enqueue_many
from jobs.models import QueueJob

pytestmark = pytest.mark.django_db(transaction=True)


def queued_ids(queue: str = "default", priority: int = 5) -> list[str]:
    return [job.args[0] for job in get_rq_queue(rq_queue_name(queue, priority)).jobs]


def test_enqueue_writes_the_row_then_hands_only_the_id_to_redis():
    job = job_enqueue(type="demo.noop", payload={}).job
    row = QueueJob.objects.get(pk=job.id)
    assert row.status == JobStatus.PENDING and row.dispatched_at is not None and row.max_attempts == 3
    assert row.retry_policy["backoff"] == "sequence"
    assert queued_ids() == [str(job.id)]


def test_rolled_back_transaction_leaves_no_row_and_no_redis_message():
    with pytest.raises(RuntimeError), transaction.atomic():
        job_enqueue(type="demo.noop", payload={})
        raise RuntimeError("roll back")
    assert not QueueJob.objects.exists()
    assert queued_ids() == []


def test_dispatch_waits_for_commit():
    with transaction.atomic():
        job = job_enqueue(type="demo.noop", payload={}).job
        assert queued_ids() == []
    assert queued_ids() == [str(job.id)]


def test_delayed_job_is_scheduled_not_dispatched():
    job = job_enqueue(type="demo.noop", payload={}, delay=60).job
    assert job.status == JobStatus.SCHEDULED and job.run_at > timezone.now() + timedelta(seconds=59)
    assert queued_ids() == []


def test_unknown_type_and_bad_payload_name_the_field():
    with pytest.raises(JobTypeError) as unknown:
        job_enqueue(type="nope.nothing", payload={})
    assert unknown.value.errors[0]["field"] == "type"
    with pytest.raises(JobTypeError) as bad:
        job_enqueue(type="ai.summarize", payload={"text": "", "max_sentences": 0})
    assert {e["field"] for e in bad.value.errors} == {"payload.text", "payload.max_sentences"}


@pytest.mark.parametrize(
    ("options", "field"),
    [({"priority": 10}, "priority"), ({"delay": -1}, "delay"), ({"queue": "nope"}, "queue"),
     ({"timeout": 0}, "timeout"), ({"max_attempts": 0}, "max_attempts"),
     ({"delay": 1, "run_at": timezone.now()}, "delay")],
)
def test_invalid_options_are_rejected_with_the_field(options, field):
    with pytest.raises(JobTypeError) as exc:
        job_enqueue(type="demo.noop", payload={}, **options)
    assert exc.value.errors[0]["field"] == field
    assert not QueueJob.objects.exists()


def test_unique_key_returns_the_live_job_instead_of_a_second():
    first = job_enqueue(type="demo.noop", payload={}, unique_key="k1")
    second = job_enqueue(type="demo.noop", payload={}, unique_key="k1")
    assert first.created and not second.created and second.job.id == first.job.id
    QueueJob.objects.filter(pk=first.job.id).update(status=JobStatus.COMPLETED)
    third = job_enqueue(type="demo.noop", payload={}, unique_key="k1")
    assert third.created and third.job.id != first.job.id


def test_job_type_uniqueness_derives_the_key_from_the_payload():
    payload = {"entity_type": "post", "entity_id": "7", "title": "t"}
    first = job_enqueue(type="indexing.reindex", payload=payload)
    second = job_enqueue(type="indexing.reindex", payload={**payload, "title": "changed"})
    assert second.job.id == first.job.id and first.job.unique_key == "indexing.reindex:post:7"


def test_priority_band_decides_the_rq_list():
    urgent = job_enqueue(type="demo.noop", payload={}, priority=0).job
    email = job_enqueue(type="email.send", payload={"to": ["a@example.com"], "subject": "s", "body": "b"}).job
    assert queued_ids("default", 0) == [str(urgent.id)]
    assert email.priority == 2 and queued_ids("email", 2) == [str(email.id)]


def test_enqueue_many_is_all_or_nothing():
    with pytest.raises(JobTypeError) as exc:
        job_enqueue_many([{"type": "demo.noop"}, {"type": "demo.sleep", "payload": {"seconds": -1}}])
    assert exc.value.errors[0]["field"] == "1.payload.seconds"
    assert not QueueJob.objects.exists()
    jobs = job_enqueue_many([{"type": "demo.noop"} for _ in range(50)])
    assert len(jobs) == 50 and QueueJob.objects.count() == 50
    assert sorted(queued_ids()) == sorted(str(job.id) for job in jobs)
