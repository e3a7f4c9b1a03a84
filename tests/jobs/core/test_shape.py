"""jobs.core.shape: the one public shape of a job and of an attempt."""
from __future__ import annotations

import pytest

from jobs.core.shape import PUBLIC_FIELDS, AttemptShape, JobShape, attempt_to_dict, job_to_dict, parse_job_id
from jobs.engine.enqueue import job_enqueue
from jobs.models import JobAttempt


@pytest.mark.django_db
def test_job_to_dict_builds_exactly_the_schema_fields_and_validates_against_it() -> None:
    job = job_enqueue(type="demo.sleep", payload={"seconds": 1}).job
    shape = job_to_dict(job)
    assert tuple(shape) == PUBLIC_FIELDS == tuple(JobShape.model_fields)
    assert JobShape.model_validate(shape).model_dump()["payload"] == {"seconds": 1.0, "steps": 5}


@pytest.mark.django_db
def test_attempt_to_dict_builds_exactly_the_schema_fields() -> None:
    job = job_enqueue(type="demo.noop", payload={}).job
    attempt = JobAttempt.objects.create(job=job, number=1, worker="w", pid=1, started_at=job.created_at)
    shape = attempt_to_dict(attempt)
    assert tuple(shape) == tuple(AttemptShape.model_fields)
    assert AttemptShape.model_validate(shape).outcome == ""


def test_parse_job_id_refuses_what_is_not_a_uuid() -> None:
    assert parse_job_id("not-a-uuid") is None
    assert str(parse_job_id("00000000-0000-0000-0000-000000000001")) == "00000000-0000-0000-0000-000000000001"
