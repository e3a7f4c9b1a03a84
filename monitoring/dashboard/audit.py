"""Dashboard actions in the audit trail (jobs/engine/audit.py): who, what, how many jobs, which filter."""
from __future__ import annotations

from typing import Any

from jobs.core.access import session_actor
from jobs.engine.audit import audit_record
from jobs.models import AuditEntry


def log_action(user: Any, *, action: str, count: int, description: str, job_id: object = None,
               queue: str | None = None) -> AuditEntry:
    """Record ``action`` on ``count`` jobs (``description`` says which: the filter or the job).

    A single job is recorded on the job (its page lists it), a queue switch on
    the queue, a bulk action with the filter as its detail.
    """
    actor = session_actor(user, "dashboard")
    if queue is not None and job_id is None and action in ("pause", "resume"):
        return audit_record(actor=actor, action=action, count=count, target=f"queue {queue}")
    return audit_record(actor=actor, action=action, count=count, detail=description, object_id=job_id)


def job_history(job_id: object, limit: int = 50) -> list[AuditEntry]:
    """What was done to this one job, from any interface, newest first."""
    return list(AuditEntry.objects.filter(object_id=str(job_id)).select_related("user").order_by("-at")[:limit])
