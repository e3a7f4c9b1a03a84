"""Job states and the transitions allowed between them (docs/architecture.md, "Job states")."""
from __future__ import annotations

from django.db import models


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting in Redis for a worker
    SCHEDULED = "scheduled", "Scheduled"  # delayed first run; run_at is in the future
    ACTIVE = "active", "Active"  # claimed by a worker, handler running
    RETRYING = "retrying", "Retrying"  # failed an attempt, waiting for its backoff (run_at)
    COMPLETED = "completed", "Completed"  # final: handler returned
    FAILED = "failed", "Failed"  # final: the dead-letter queue
    CANCELLED = "cancelled", "Cancelled"  # final: stopped by a person or a command


class AttemptOutcome(models.TextChoices):
    COMPLETED = "completed", "Completed"
    ERROR = "error", "Error"
    TIMEOUT = "timeout", "Timeout"
    LOST = "lost", "Lost"  # worker vanished; closed by the lifeline
    CANCELLED = "cancelled", "Cancelled"
    INTERRUPTED = "interrupted", "Interrupted"  # worker shut down; job put back, not charged


#: States in which a job still holds its unique key and may still run.
LIVE_STATES = frozenset({JobStatus.PENDING, JobStatus.SCHEDULED, JobStatus.ACTIVE, JobStatus.RETRYING})
FINAL_STATES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
#: States a person may cancel from (active is cooperative: it only sets a flag).
CANCELLABLE_STATES = frozenset({JobStatus.PENDING, JobStatus.SCHEDULED, JobStatus.RETRYING})
#: States a person may requeue from: the dead-letter queue and cancelled jobs.
RETRYABLE_STATES = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})
#: States the scheduler promotes to pending once run_at has passed.
WAITING_STATES = frozenset({JobStatus.SCHEDULED, JobStatus.RETRYING})
