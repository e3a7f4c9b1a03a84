"""Every dashboard action leaves a django.contrib.admin LogEntry: who, what, how many jobs, which filter."""
from __future__ import annotations

from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType

from jobs.models import QueueJob, QueueState

FLAGS = {"add": ADDITION, "delete": DELETION}


def log_action(user: Any, *, action: str, count: int, description: str, job_id: object = None,
               queue: str | None = None) -> LogEntry:
    """Record ``action`` on ``count`` jobs (``description`` says which: the filter or the job).

    A single job is logged on the job (object id = its id), so its page lists
    it; a queue switch on the queue; a bulk action on the job model with the
    filter in the message.
    """
    if queue is not None and job_id is None and action in ("pause", "resume"):
        model, object_id, repr_ = QueueState, queue, f"queue {queue}"
    else:
        model = QueueJob
        object_id = str(job_id) if job_id is not None else None
        repr_ = f"job {job_id}" if job_id is not None else f"{count:,} job{'s' if count != 1 else ''}"
    message = f"{action}: {count:,} job{'s' if count != 1 else ''} ({description})"
    return LogEntry.objects.create(
        user_id=user.pk,
        content_type=ContentType.objects.get_for_model(model, for_concrete_model=False),
        object_id=object_id,
        object_repr=repr_[:200],
        action_flag=FLAGS.get(action, CHANGE),
        change_message=message,
    )


def job_history(job_id: object, limit: int = 50) -> list[LogEntry]:
    """Actions people took on this one job, newest first."""
    return list(
        LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(QueueJob), object_id=str(job_id))
        .select_related("user").order_by("-action_time")[:limit]
    )
