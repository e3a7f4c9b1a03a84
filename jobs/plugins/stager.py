"""The stager: every scheduler tick, jobs whose time has come are made pending and dispatched.

Scheduled and retrying jobs whose ``run_at`` has passed are promoted, and
pending jobs that never reached Redis (it was down at enqueue, or their queue
was paused) are handed over; both through the engine's guarded writers
(jobs.engine.transitions).
"""
from __future__ import annotations

from jobs.engine.transitions import jobs_dispatch_stranded, jobs_promote_due


def stage_due() -> int:
    """Promote what is due; returns how many jobs were promoted."""
    return jobs_promote_due()


def stage_stranded() -> int:
    """Hand over what never reached Redis; returns how many jobs were dispatched."""
    return jobs_dispatch_stranded()
