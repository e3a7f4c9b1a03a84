"""Built-in housekeeping job types, fired by the default schedules (see the data migration)."""
from __future__ import annotations

from django.db import connection
from pydantic import BaseModel

from jobs.core.registry import job_type
from jobs.execution.context import JobContext
from jobs.plugins.pruner import prune_jobs
from jobs.selectors.reports import queue_report

JOB_TABLES = ("jobs_queuejob", "jobs_jobattempt", "jobs_schedulefiring")


class NoPayload(BaseModel):
    pass


@job_type("cleanup.prune_jobs", payload=NoPayload, queue="cleanup", timeout=600, access="internal")
def prune(ctx: JobContext) -> dict:
    """Delete finished jobs beyond each queue's retention policy."""
    results = prune_jobs()
    return {"deleted": sum(r.count for r in results),
            "by_queue": {f"{r.queue}.{r.policy}": r.count for r in results if r.count}}


@job_type("maintenance.vacuum_jobs", payload=NoPayload, queue="maintenance", timeout=1800, access="internal")
def vacuum(ctx: JobContext) -> dict:
    """VACUUM (ANALYZE) the job tables, so pruning returns space and the planner has fresh statistics."""
    done = []
    for index, table in enumerate(JOB_TABLES):
        ctx.progress(100 * index / len(JOB_TABLES), stage=f"vacuum {table}")
        with connection.cursor() as cursor:  # autocommit: VACUUM cannot run inside a transaction
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        done.append(table)
    return {"vacuumed": done}


@job_type("report.queue_summary", payload=NoPayload, queue="report", timeout=600, access="internal")
def report(ctx: JobContext) -> dict:
    """Per queue and type: outcomes, failure rate, p50/p95 duration and retries."""
    return queue_report()
