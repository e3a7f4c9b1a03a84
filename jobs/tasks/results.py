"""A TaskResult read from the job's rows: Django's view of a job (``get_result``, signals, context)."""
from __future__ import annotations

import uuid
from typing import Any

from django.utils import timezone

from jobs.core.states import AttemptOutcome, JobStatus
from jobs.models import QueueJob
from jobs.selectors.jobs import job_attempts, job_get
from jobs.tasks.api import (
    Task,
    TaskError,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
    get_exception_traceback,
    get_module_path,
)

STATUS = {
    JobStatus.PENDING: TaskResultStatus.READY,
    JobStatus.SCHEDULED: TaskResultStatus.READY,
    JobStatus.RETRYING: TaskResultStatus.READY,
    JobStatus.ACTIVE: TaskResultStatus.RUNNING,
    JobStatus.COMPLETED: TaskResultStatus.SUCCESSFUL,
    JobStatus.FAILED: TaskResultStatus.FAILED,
    JobStatus.CANCELLED: TaskResultStatus.FAILED,
}
#: Attempts that end in an error the task's caller should see (an interrupted one is put back unharmed).
FAILED_OUTCOMES = {AttemptOutcome.ERROR, AttemptOutcome.TIMEOUT, AttemptOutcome.LOST, AttemptOutcome.CANCELLED}
#: The engine's own endings, raised into handlers (jobs/core/errors.py) or recorded by the lifeline.
ENGINE_ERRORS = {"JobTimeout", "JobCancelled", "WorkerShutdown", "LeaseLost", "WorkerLost"}


def exception_path(error_type: str, traceback: str) -> str:
    """The exception's import path, as TaskError wants it: the traceback's last line names it in full
    (``package.module.Error: message``), builtins by their bare name."""
    lines = [line for line in traceback.splitlines() if line.strip()]
    name = lines[-1].split(":", 1)[0].strip() if lines and not lines[-1].startswith(" ") else error_type
    if "." in name:
        return name
    return f"jobs.core.errors.{name}" if name in ENGINE_ERRORS else f"builtins.{name}"


def task_result(alias: str, task: Task, job: QueueJob) -> TaskResult:
    attempts = list(job_attempts(job))
    payload = job.payload if isinstance(job.payload, dict) else {}
    result = TaskResult(
        task=task,
        id=str(job.id),
        status=STATUS[job.status],
        enqueued_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        last_attempted_at=attempts[-1].started_at if attempts else None,
        args=payload.get("args", []),
        kwargs=payload.get("kwargs", {}),
        backend=alias,
        errors=[TaskError(exception_class_path=exception_path(a.error_type, a.traceback),
                          traceback=a.traceback or f"{a.error_type}: {a.error_message}")
                for a in attempts if a.outcome in FAILED_OUTCOMES],
        worker_ids=[a.worker for a in attempts],
    )
    if job.status == JobStatus.COMPLETED:
        object.__setattr__(result, "_return_value", job.result)
    return result


def attempt_result(alias: str, task: Task, job_id: uuid.UUID, *, status: TaskResultStatus | None = None,
                   value: Any = None, exc: BaseException | None = None) -> TaskResult:
    """The result as a handler sees it during its attempt: RUNNING, or how this attempt just ended
    (its finish is written after the handler returns, so its outcome comes from the handler)."""
    job = job_get(job_id)
    if job is None:
        raise TaskResultDoesNotExist(str(job_id))
    result = task_result(alias, task, job)
    if status is not None:
        object.__setattr__(result, "status", status)
        object.__setattr__(result, "finished_at", timezone.now())
    if status == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", value)
    if exc is not None:
        result.errors.append(TaskError(exception_class_path=get_module_path(type(exc)),
                                       traceback=get_exception_traceback(exc)))
    return result
