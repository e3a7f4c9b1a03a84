"""The reconciler, through a real scheduler process: a message missing from every RQ list is sent again.

A message can vanish while its RQ hash still says ``queued`` (a BLMPOP reply
lost on the way, a worker killed right after the pop), and any number of jobs
may wait legitimately ahead of a lost one (a queue with no worker).
"""
import pytest

from jobs.core.states import JobStatus
from jobs.core.transport import redis_connection, rq_queue_name
from jobs.engine.enqueue import job_enqueue, job_enqueue_many
from jobs.models import JobAttempt, QueueJob
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def lose_message(job: QueueJob, *, keep_hash: bool) -> None:
    """What a lost BLMPOP reply leaves: the message out of its list; the hash ``queued`` or gone."""
    job.refresh_from_db()
    client = redis_connection()
    assert client.lrem(f"rq:queue:{rq_queue_name(job.queue, job.priority)}", 0, job.rq_id) == 1
    if keep_hash:
        assert client.hget(f"rq:job:{job.rq_id}", "status") == b"queued"
    else:
        client.delete(f"rq:job:{job.rq_id}")


def test_a_message_lost_while_its_hash_says_queued_is_sent_again(processes):
    job = job_enqueue(type="demo.noop", payload={}).job
    lose_message(job, keep_hash=True)
    env = processes.env(JOB_RECONCILE_AFTER="0.3")
    processes.scheduler(env=env)
    processes.worker("default", env=env)
    wait_for(lambda: QueueJob.objects.get(pk=job.id).status == JobStatus.COMPLETED, timeout=20,
             message="the lost job to be sent again and complete")
    assert JobAttempt.objects.filter(job_id=job.id).count() == 1


def test_a_lost_job_behind_a_thousand_waiting_ones_is_found(processes):
    waiting = job_enqueue_many([{"type": "demo.noop", "queue": "ai"} for _ in range(1100)])  # no ai worker
    job = job_enqueue(type="demo.noop", payload={}).job
    lose_message(job, keep_hash=False)
    env = processes.env(JOB_RECONCILE_AFTER="0.3")
    processes.scheduler(env=env)
    processes.worker("default", env=env)
    wait_for(lambda: QueueJob.objects.get(pk=job.id).status == JobStatus.COMPLETED, timeout=20,
             message="the lost job to be found behind the waiting ones")
    # The waiting jobs' messages are in their list: none was sent twice.
    rq_ids = set(QueueJob.objects.filter(pk__in=[w.id for w in waiting]).values_list("rq_id", flat=True))
    assert {w.rq_id for w in waiting} == rq_ids
    assert redis_connection().llen("rq:queue:ai") == 1100
