"""A Django task as a job type: named by its module path, its payload ``{"args": [...], "kwargs": {...}}``.

A task registers its job type when its module is imported (Task.__post_init__ asks the backend
to validate it: jobs.tasks.backend, which also lets workers import a task's module on demand).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, replace
from typing import Any

from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured
from pydantic import BaseModel, ConfigDict, Field

from jobs.core.config import Retention, get_config
from jobs.core.registry import Access, JobType, register
from jobs.core.retry import RetryPolicy
from jobs.execution.context import JobContext
from jobs.tasks.api import Task, TaskContext, TaskResult, TaskResultStatus, task_finished, task_started
from jobs.tasks.results import attempt_result


class TaskPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    args: list[Any] = Field(default_factory=list, description="Positional arguments (JSON)")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments (JSON)")


@dataclass(frozen=True)
class TaskOptions:
    """Per task, from the backend's OPTIONS["TASKS"][<module path>] (README, "Using Django's Tasks API")."""

    #: Tasks are the application's own code: not offered to people unless a deployment says so.
    access: Access = "internal"
    max_attempts: int | None = None
    #: As JOB_QUEUES has it: ("sequence", [1, 5, 30]), ("exponential", 2) or ("fixed", 5).
    backoff: tuple[str, Any] | None = None
    timeout: float | None = None
    #: As JOB_QUEUES has them: (max count, max age in s), either None; the task's jobs are then kept apart
    #: from their queue's retention.
    keep_completed: Retention | None = None
    keep_failed: Retention | None = None

    @classmethod
    def parse(cls, path: str, raw: dict[str, Any]) -> TaskOptions:
        unknown = set(raw) - {"access", "max_attempts", "backoff", "timeout", "keep_completed", "keep_failed"}
        if unknown:
            raise ImproperlyConfigured(f"OPTIONS['TASKS'][{path!r}]: unknown options {', '.join(sorted(unknown))}")
        kept = {key: Retention(*raw[key]) for key in ("keep_completed", "keep_failed") if raw.get(key) is not None}
        return cls(**{**raw, "backoff": tuple(raw["backoff"]) if raw.get("backoff") else None, **kept})

    def retry(self, queue: str) -> RetryPolicy | None:
        """The task's own retry policy, or None for its queue's."""
        policy = get_config().queue(queue).retry
        if self.backoff:
            return RetryPolicy.from_backoff_spec(max_attempts=self.max_attempts or policy.max_attempts,
                                                 spec=self.backoff, cap=policy.cap, jitter=policy.jitter)
        return replace(policy, max_attempts=self.max_attempts) if self.max_attempts else None


@dataclass(frozen=True, slots=True, kw_only=True)
class JobTaskContext(TaskContext):
    """Django's TaskContext (attempt number, the result so far) plus the engine's progress call."""

    job: JobContext

    def progress(self, percent: float, *, stage: str | None = None, message: str | None = None) -> None:
        self.job.progress(percent, stage=stage, message=message)


def register_task(task: Task, options: TaskOptions) -> JobType:
    """The task's job type, (re)registered at each validation so the backend's current options hold."""
    return register(JobType(
        name=task.module_path,
        handler=_async_handler(task) if inspect.iscoroutinefunction(task.func) else _handler(task),
        payload_model=TaskPayload,
        queue=task.queue_name,
        retry=options.retry(task.queue_name),
        timeout=options.timeout,
        access=options.access,
        keep_completed=options.keep_completed,
        keep_failed=options.keep_failed,
        description=(task.func.__doc__ or "").strip().split("\n\n")[0],
    ), replace=True)


def _handler(task: Task) -> Any:
    def run(ctx: JobContext) -> Any:
        payload: TaskPayload = ctx.payload  # type: ignore[assignment]
        result = _signal(task_started, task, ctx)
        args = [JobTaskContext(task_result=result, job=ctx), *payload.args] if task.takes_context else payload.args
        try:
            value = task.func(*args, **payload.kwargs)
        except BaseException as exc:
            _signal(task_finished, task, ctx, status=TaskResultStatus.FAILED, exc=exc)
            raise
        _signal(task_finished, task, ctx, status=TaskResultStatus.SUCCESSFUL, value=value)
        return value

    return run


def _async_handler(task: Task) -> Any:
    async def run(ctx: JobContext) -> Any:
        payload: TaskPayload = ctx.payload  # type: ignore[assignment]
        result = await sync_to_async(_signal)(task_started, task, ctx)
        args = [JobTaskContext(task_result=result, job=ctx), *payload.args] if task.takes_context else payload.args
        try:
            value = await task.func(*args, **payload.kwargs)
        except BaseException as exc:
            await sync_to_async(_signal)(task_finished, task, ctx, status=TaskResultStatus.FAILED, exc=exc)
            raise
        await sync_to_async(_signal)(task_finished, task, ctx, status=TaskResultStatus.SUCCESSFUL, value=value)
        return value

    return run


def _signal(signal: Any, task: Task, ctx: JobContext, **outcome: Any) -> TaskResult:
    """Send Django's task_started / task_finished with the TaskResult as it stands: at the end of each
    attempt, SUCCESSFUL when it returned and FAILED when it raised (even if the engine will retry)."""
    backend = task.get_backend()
    result = attempt_result(backend.alias, task, ctx.job_id, **outcome)
    signal.send(type(backend), task_result=result)
    return result
