"""The Tasks backend: ``TASKS = {"default": {"BACKEND": "jobs.tasks.backend.JobQueueBackend"}}``.

``enqueue`` is ``job_enqueue`` (jobs/engine/enqueue.py): the row is written in the caller's
transaction and handed to Redis when it commits, so a task enqueued in a rolled-back
transaction never runs (Django dropped ``enqueue_on_commit``; this backend needs none).
Results are the job's rows (jobs/tasks/results.py); retries, backoff, time limits and the
dead-letter queue are the engine's, per queue, overridable per task in OPTIONS["TASKS"].
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

from jobs.core.config import get_config
from jobs.core.errors import JobTypeError
from jobs.core.registry import JobType, add_loader, get_job_type
from jobs.engine.enqueue import job_enqueue
from jobs.models import JobSource
from jobs.selectors.jobs import job_get
from jobs.tasks.api import (
    DEFAULT_TASK_PRIORITY,
    BaseTaskBackend,
    InvalidTaskError,
    Task,
    TaskResult,
    TaskResultDoesNotExist,
    normalize_json,
    task_backends,
    task_enqueued,
)
from jobs.tasks.results import task_result
from jobs.tasks.types import TaskOptions, register_task


def priority_band(priority: int) -> int:
    """Django's -100…100 (higher first) onto the engine's bands 0…9 (lower first): 0 is the queue's
    usual 5, each 20 above it one band sooner (100 → 0), each 25 below one band later (-100 → 9)."""
    if priority > 0:
        return 5 - math.ceil(priority / 20)
    if priority < 0:
        return 5 + math.ceil(-priority / 25)
    return 5


class JobQueueBackend(BaseTaskBackend):
    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict) -> None:
        super().__init__(alias, params)
        if "QUEUES" not in params:
            self.queues = set(get_config().queues)
        self.task_options = {path: TaskOptions.parse(path, raw)
                             for path, raw in self.options.get("TASKS", {}).items()}
        add_loader(load_task_type)

    def validate_task(self, task: Task) -> None:
        super().validate_task(task)
        if task.queue_name not in get_config().queues:
            raise InvalidTaskError(f"Queue {task.queue_name!r} is not in JOB_QUEUES "
                                   f"(known: {', '.join(get_config().queues)})")
        register_task(task, self.task_options.get(task.module_path, TaskOptions()))

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        self.validate_task(task)
        try:
            payload = {"args": normalize_json(args), "kwargs": normalize_json(kwargs)}
        except (TypeError, ValueError) as exc:
            raise TypeError(f"arguments of task {task.module_path} must be JSON-serialisable: {exc}") from None
        try:
            job = job_enqueue(type=task.module_path, payload=payload, queue=task.queue_name,
                              priority=None if task.priority == DEFAULT_TASK_PRIORITY else priority_band(task.priority),
                              run_at=task.run_after, source=JobSource.PYTHON, source_detail=f"task {self.alias}").job
        except JobTypeError as exc:
            raise InvalidTaskError(f"{exc}: {exc.errors}") from None
        result = task_result(self.alias, task, job)
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> TaskResult:
        job = job_get(result_id)
        task = _task_at(job.type) if job is not None else None
        if job is None or task is None:
            raise TaskResultDoesNotExist(result_id)
        return task_result(self.alias, task, job)

    def check(self, **kwargs: Any) -> Iterable[checks.CheckMessage]:
        unknown = sorted(self.queues - set(get_config().queues))
        if unknown:
            yield checks.Error(f"TASKS[{self.alias!r}]['QUEUES'] names queues JOB_QUEUES lacks: {', '.join(unknown)}",
                               id="jobs.E010")
        for path in self.task_options:
            if _task_at(path) is None:
                yield checks.Error(f"TASKS[{self.alias!r}]['OPTIONS']['TASKS']: {path} is not a task", id="jobs.E011")


def _task_at(path: str) -> Task | None:
    """The Task of this backend at module path ``path``; None for anything else (it is never called)."""
    if "." not in path:
        return None
    try:
        found = import_string(path)
    except ImportError:
        return None
    if not isinstance(found, Task) or not isinstance(found.get_backend(), JobQueueBackend):
        return None
    return found


def load_task_type(name: str) -> JobType | None:
    """Registry loader for workers: a task job whose module no one imported yet."""
    if _task_at(name) is None:
        return None
    return get_job_type(name)  # importing the module registered the type


def start_task_backends() -> None:
    """At start-up (jobs/apps.py): create this project's backends, so workers can load tasks on demand,
    and import the tasks their OPTIONS name, so the API and dashboard know them."""
    for alias, params in settings.TASKS.items():
        if import_string(params["BACKEND"]) is JobQueueBackend:
            backend = task_backends[alias]
            for path in backend.task_options:
                _task_at(path)
