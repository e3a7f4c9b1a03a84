"""Queue switches: pausing and resuming. The switch lives in PostgreSQL so it survives Redis loss."""
from __future__ import annotations

from django.db import transaction

from jobs.core.config import get_config
from jobs.core.errors import JobTypeError
from jobs.engine.transitions import jobs_dispatch_stranded
from jobs.models import QueueState


def _known(name: str) -> str:
    if name not in get_config().queues:
        known = ", ".join(get_config().queues)
        raise JobTypeError(f"unknown queue {name!r}", [{"field": "queue", "message": f"known: {known}",
                                                         "type": "unknown_queue"}])
    return name


def queue_pause(*, name: str) -> QueueState:
    state, _ = QueueState.objects.update_or_create(name=_known(name), defaults={"paused": True})
    return state


def queue_resume(*, name: str) -> QueueState:
    """Unpause, and send again the jobs workers handed back while the queue was paused."""
    with transaction.atomic():
        state, _ = QueueState.objects.update_or_create(name=_known(name), defaults={"paused": False})
        jobs_dispatch_stranded(older_than=0, queue=name, limit=100_000)
    return state
