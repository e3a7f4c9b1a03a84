"""The one import of Django's Tasks API. On Django 6, ``django.tasks`` has the same names:
change the two imports below (and TASKS' BACKEND stays as it is)."""
from django_tasks import TaskContext, TaskResult, TaskResultStatus, task, task_backends
from django_tasks.backends.base import BaseTaskBackend
from django_tasks.base import DEFAULT_TASK_PRIORITY, Task, TaskError
from django_tasks.exceptions import InvalidTaskError, TaskResultDoesNotExist, TaskResultMismatch
from django_tasks.signals import task_enqueued, task_finished, task_started
from django_tasks.utils import get_exception_traceback, get_module_path, normalize_json

__all__ = [
    "DEFAULT_TASK_PRIORITY", "BaseTaskBackend", "InvalidTaskError", "Task", "TaskContext", "TaskError", "TaskResult",
    "TaskResultDoesNotExist", "TaskResultMismatch", "TaskResultStatus", "get_exception_traceback", "get_module_path", "normalize_json",
    "task", "task_backends", "task_enqueued", "task_finished", "task_started",
]
