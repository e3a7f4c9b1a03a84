"""Django's Tasks API on this engine (issue 14): ``@task`` functions enqueued through the backend,
run by real workers, read back as TaskResults."""
from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.checks import run_checks
from django.db import connections, transaction
from django.test import Client
from django.utils import timezone

from jobs.core.config import get_config
from jobs.core.states import JobStatus
from jobs.core.transport import Dispatch, new_rq_id, redis_connection
from jobs.engine.dispatch import dispatch
from jobs.execution.runner import run_job
from jobs.models import JobAttempt, QueueJob
from jobs.tasks.api import (
    InvalidTaskError,
    TaskResultDoesNotExist,
    TaskResultMismatch,
    TaskResultStatus,
    task,
    task_backends,
    task_enqueued,
    task_finished,
    task_started,
)
from jobs.tasks.backend import JobQueueBackend, priority_band
from tests.conftest import make_user, wait_for
from tests.jobs.tasks import sample

FAST_RETRY = {"tests.jobs.tasks.sample.flaky": {"backoff": ["fixed", 0.1]},
              "tests.jobs.tasks.sample.always_fails": {"backoff": ["fixed", 0.1], "max_attempts": 2}}


@pytest.fixture
def fast_retries(settings: Any) -> None:
    settings.TASKS = {"default": {**settings.TASKS["default"], "OPTIONS": {"TASKS": FAST_RETRY}}}


def finished(result: Any, timeout: float = 20) -> Any:
    def done() -> bool:
        result.refresh()
        return result.is_finished

    wait_for(done, timeout=timeout, message=f"task {result.id} to finish")
    return result


# --- Through real workers ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_task_runs_in_a_worker_and_its_result_is_read_back(processes: Any) -> None:
    processes.worker("default")
    result = finished(sample.add.enqueue(2, 1, times=2))
    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value == 6
    assert (result.args, result.kwargs) == ([2, 1], {"times": 2})
    assert result.attempts == 1 and len(result.worker_ids) == 1 and result.errors == []
    assert result.started_at and result.finished_at and result.last_attempted_at
    again = sample.add.get_result(result.id)
    assert again.return_value == 6 and again.task.func is sample.add.func
    job = QueueJob.objects.get(pk=result.id)
    assert job.type == "tests.jobs.tasks.sample.add" and job.payload == {"args": [2, 1], "kwargs": {"times": 2}}


@pytest.mark.django_db(transaction=True)
def test_retries_show_as_attempts_and_errors(processes: Any, fast_retries: None) -> None:
    processes.worker("default")
    processes.scheduler()
    result = finished(sample.flaky.enqueue(failures=2))
    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value == {"attempt": 3}
    assert result.attempts == 3 and len(result.errors) == 2
    assert result.errors[0].exception_class is ValueError and "attempt 1 fails" in result.errors[0].traceback
    assert QueueJob.objects.get(pk=result.id).progress_stage == "done"


@pytest.mark.django_db(transaction=True)
def test_a_task_that_always_fails_is_dead_lettered_and_can_be_retried_from_the_dashboard(
        processes: Any, fast_retries: None) -> None:
    processes.worker("default")
    processes.scheduler()
    result = finished(sample.always_fails.enqueue())
    assert result.status == TaskResultStatus.FAILED and len(result.errors) == 2
    assert result.errors[-1].exception_class is LookupError
    assert QueueJob.objects.get(pk=result.id).status == JobStatus.FAILED
    with pytest.raises(ValueError, match="failed"):
        result.return_value  # noqa: B018 (Django's contract: a failed task has no return value)

    staff = Client()
    staff.force_login(make_user("ops", perms=("view_queuejob", "retry_queuejob")))
    assert staff.post(f"/admin/queues/jobs/{result.id}/retry/").status_code == 302
    wait_for(lambda: JobAttempt.objects.filter(job_id=result.id).count() == 4
             and QueueJob.objects.get(pk=result.id).status == JobStatus.FAILED, timeout=20,
             message="the retried task to run its fresh attempts")


@pytest.mark.django_db(transaction=True)
def test_an_async_task_runs_on_the_workers_loop(processes: Any) -> None:
    processes.worker("default")
    assert finished(sample.async_double.enqueue(21)).return_value == 42


@pytest.mark.django_db(transaction=True)
def test_a_dotted_path_that_is_not_a_task_is_never_run(processes: Any) -> None:
    """Rows are written by trusted code only (the API refuses unknown types), but even a row naming
    a plain function is refused by the worker without calling it."""
    rq_id = new_rq_id(uuid.uuid4())
    job = QueueJob.objects.create(id=uuid.UUID(rq_id[:32]), type="tests.jobs.tasks.sample.not_a_task",
                                  queue="default", timeout=5, payload={"args": [], "kwargs": {}}, max_attempts=1,
                                  retry_policy=get_config().queue("default").retry.to_json(),
                                  rq_id=rq_id, dispatched_at=timezone.now())
    dispatch([Dispatch(job.id, job.queue, job.priority, rq_id)])
    processes.worker("default")
    wait_for(lambda: QueueJob.objects.get(pk=job.pk).status == JobStatus.FAILED, timeout=20,
             message="the worker to refuse the job")
    job.refresh_from_db()
    assert job.error.startswith("JobTypeError: unknown job type")


@pytest.mark.django_db(transaction=True)
def test_higher_priority_tasks_run_first(processes: Any) -> None:
    low = sample.record.using(priority=-50).enqueue("low")
    high = sample.record.using(priority=90).enqueue("high")
    processes.worker("default", concurrency=1)
    finished(low), finished(high)
    assert high.started_at < low.started_at
    assert QueueJob.objects.get(pk=high.id).priority == 0 and QueueJob.objects.get(pk=low.id).priority == 7


# --- In the enqueuing process --------------------------------------------------------


def test_an_enqueue_in_a_rolled_back_transaction_leaves_nothing(db: None) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        sample.add.enqueue(1, 2)
        raise RuntimeError("roll back")
    assert not QueueJob.objects.exists()
    assert not any(redis_connection().keys("rq:queue:*"))


def test_run_after_schedules_the_task(db: None) -> None:
    at = timezone.now() + timedelta(minutes=5)
    result = sample.add.using(run_after=at).enqueue(1, 1)
    job = QueueJob.objects.get(pk=result.id)
    assert job.status == JobStatus.SCHEDULED and job.run_at == at
    assert result.status == TaskResultStatus.READY


def test_an_unknown_queue_is_refused_clearly(db: None, settings: Any) -> None:
    with pytest.raises(InvalidTaskError, match="Queue 'nope' is not valid"):
        sample.add.using(queue_name="nope")
    settings.TASKS = {"default": {**settings.TASKS["default"], "QUEUES": ["default", "nope"]}}
    with pytest.raises(InvalidTaskError, match="not in JOB_QUEUES"):
        sample.add.using(queue_name="nope")
    errors = [e for e in run_checks() if e.id == "jobs.E010"]
    assert errors and "nope" in errors[0].msg


def test_arguments_must_be_json(db: None) -> None:
    with pytest.raises(TypeError, match="must be JSON-serialisable"):
        sample.add.enqueue(object(), 1)
    assert not QueueJob.objects.exists()


def test_signals_fire_around_a_run(db: None) -> None:
    seen: list[tuple[str, str]] = []

    def receiver(name: str) -> Any:
        def record(sender: Any, task_result: Any, **kwargs: Any) -> None:
            seen.append((name, task_result.status))
        return record

    receivers = {signal: receiver(name) for signal, name in
                 [(task_enqueued, "enqueued"), (task_started, "started"), (task_finished, "finished")]}
    for signal, fn in receivers.items():
        signal.connect(fn)
    try:
        result = sample.add.enqueue(1, 2)
        run_job(result.id)  # the claim, run and finish a worker does, in this process
    finally:
        for signal, fn in receivers.items():
            signal.disconnect(fn)
    assert seen == [("enqueued", "READY"), ("started", "RUNNING"), ("finished", "SUCCESSFUL")]
    result.refresh()
    assert result.return_value == 3


def test_the_api_cannot_enqueue_tasks_or_dotted_paths(db: None) -> None:
    from jobs.api.tokens import api_token_create

    _, key = api_token_create(user=make_user("caller", perms=("view_queuejob", "add_queuejob")), name="caller")
    client = Client(headers={"authorization": f"Bearer {key}"})
    for job_type, code in [("tests.jobs.tasks.sample.add", 403), ("os.system", 422),
                           ("tests.jobs.tasks.sample.not_a_task", 422), ("jobs.jobtypes.demo_tasks.add", 202)]:
        body = {"type": job_type, "payload": {"args": [1, 2]}}
        response = client.post("/api/jobs", json.dumps(body), content_type="application/json")
        assert response.status_code == code, (job_type, response.content)
    assert list(QueueJob.objects.values_list("type", flat=True)) == ["jobs.jobtypes.demo_tasks.add"]


def test_the_dashboard_offers_only_tasks_declared_public(db: None) -> None:
    client = Client()
    client.force_login(make_user("clerk", perms=("view_queuejob", "add_queuejob")))
    page = client.get("/admin/queues/add/").content.decode()
    assert "jobs.jobtypes.demo_tasks.add" in page and "tests.jobs.tasks.sample.add" not in page
    added = client.post("/admin/queues/add/jobs.jobtypes.demo_tasks.add/",
                        {"args": "[1, 2]", "kwargs": "{}", "job_queue": "default"})
    assert added.status_code == 302
    assert QueueJob.objects.get(type="jobs.jobtypes.demo_tasks.add").payload == {"args": [1, 2], "kwargs": {}}
    assert client.get("/admin/queues/add/tests.jobs.tasks.sample.add/").status_code == 403
    result = sample.add.enqueue(4, 5)
    job_page = client.get(f"/admin/queues/jobs/{result.id}/").content.decode()
    assert "tests.jobs.tasks.sample.add" in job_page and "args" in job_page and "kwargs" in job_page


def test_get_result_knows_only_this_backends_tasks(db: None) -> None:
    from jobs.engine.enqueue import job_enqueue

    backend = task_backends["default"]
    assert isinstance(backend, JobQueueBackend)
    assert backend.supports_defer and backend.supports_async_task and backend.supports_get_result
    assert backend.supports_priority
    plain = job_enqueue(type="demo.noop", payload={}).job
    for missing in (str(plain.id), "00000000-0000-0000-0000-000000000000", "not-an-id"):
        with pytest.raises(TaskResultDoesNotExist):
            backend.get_result(missing)


async def test_aenqueue_and_aget_result(transactional_db: None) -> None:
    result = await sample.add.aenqueue(3, 4)
    again = await sample.add.aget_result(result.id)
    assert again.id == result.id and again.status == TaskResultStatus.READY
    await again.arefresh()
    await sync_to_async(connections.close_all)()  # the thread sync_to_async ran the ORM in


def test_the_backends_contract(db: None) -> None:
    """What django-tasks asks of any backend (its BaseTaskBackend, Task and TaskResult)."""
    result = sample.add.enqueue(1, 2)
    before = dataclasses.asdict(result)
    result.refresh()
    assert dataclasses.asdict(result) == before  # nothing changed: refresh() is a no-op
    with pytest.raises(TaskResultMismatch):
        sample.record.get_result(result.id)
    with pytest.raises(InvalidTaskError, match="aware datetime"):
        sample.add.using(run_after=timezone.now().replace(tzinfo=None))
    with pytest.raises(InvalidTaskError, match="priority must be a whole number"):
        sample.add.using(priority=101)
    with pytest.raises(InvalidTaskError, match="module level"):
        task(lambda: None)
    with pytest.raises(InvalidTaskError, match="first argument of 'context'"):
        task(takes_context=True)(sample.not_a_task)


def test_priorities_map_onto_bands_in_order() -> None:
    bands = [priority_band(p) for p in range(100, -101, -1)]
    assert bands[0] == 0 and bands[100] == 5 and bands[-1] == 9 and bands == sorted(bands)


def test_a_task_may_keep_its_own_retention(db: None, settings: Any) -> None:
    from jobs.core.config import Retention
    from jobs.core.registry import get_job_type
    from jobs.plugins.pruner import prune_jobs

    settings.TASKS = {"default": {**settings.TASKS["default"], "OPTIONS": {"TASKS": {
        "tests.jobs.tasks.sample.record": {"keep_completed": [1, None]}}}}}
    first, second = sample.record.enqueue("a"), sample.record.enqueue("b")
    assert get_job_type("tests.jobs.tasks.sample.record").keep_completed == Retention(1, None)
    QueueJob.objects.filter(pk__in=[first.id, second.id]).update(status="completed", finished_at=timezone.now())
    counts = {(c.queue, c.policy): c.count for c in prune_jobs()}
    assert counts[("type tests.jobs.tasks.sample.record", "completed")] == 1
    assert QueueJob.objects.filter(type="tests.jobs.tasks.sample.record").count() == 1
