"""jobs.management.cli helpers: argument types, formatting, following a job."""
from __future__ import annotations

import argparse
import io

import pytest
from django.core.management import call_command

from jobs.core import registry
from jobs.core.errors import JobTypeError
from jobs.core.states import JobStatus
from jobs.engine.enqueue import job_enqueue
from jobs.management.cli import (
    WaitTimeout,
    follow_job,
    format_duration,
    format_table,
    non_negative_float,
    parse_json_object,
    positive_float,
    positive_int,
    job_progress_line,
    render_progress,
)
from jobs.models import QueueJob


def test_argument_types() -> None:
    assert positive_int("3") == 3 and non_negative_float("0") == 0.0 and positive_float("0.5") == 0.5
    for parse, bad in [(positive_int, "0"), (positive_int, "x"), (non_negative_float, "-1"),
                       (non_negative_float, "nan"), (positive_float, "0")]:
        with pytest.raises(argparse.ArgumentTypeError):
            parse(bad)


def test_parse_json_object_names_the_field() -> None:
    assert parse_json_object('{"a": 1}') == {"a": 1}
    with pytest.raises(JobTypeError) as info:
        parse_json_object("{", field="payload")
    assert info.value.errors[0]["field"] == "payload"
    with pytest.raises(JobTypeError, match="not an object"):
        parse_json_object("3")


def test_render_progress_and_formatting() -> None:
    assert render_progress(50, status="active", stage="step 2/4", message="hi", width=10) == (
        "[#####-----]  50% active · step 2/4 · hi"
    )
    assert render_progress(100, status="completed", width=4) == "[####] 100% completed"
    assert [format_duration(s) for s in (None, 2.25, 75, 3 * 3600 + 120, 26 * 3600)] == [
        "-", "2.2s", "1m 15s", "3h 02m", "1d 02h"
    ]
    assert format_table(["a", "bb"], [(1, None), ("long", 2)]).splitlines() == [
        "a     bb", "----  --", "1", "long  2"
    ]


def test_a_followed_jobs_line_names_its_attempt_and_a_finished_job_drops_its_last_stage() -> None:
    """Issue 12 item 5: a retry reads as a new attempt, and "100% completed · finalizing" is gone."""
    def line(status: str, attempts: int, percent: int = 0, stage: str = "", error: str = "") -> str:
        job = {"status": status, "attempts": attempts, "max_attempts": 3, "error": error,
               "progress": {"percent": percent, "stage": stage, "message": "m" if stage else ""}}
        return job_progress_line(job, width=4)

    assert line("pending", 0) == "[----]   0% pending"
    assert line("active", 1, 50, "validating") == "[##--]  50% active · attempt 1 of 3 · validating · m"
    assert line("retrying", 1, 50, "validating", "RuntimeError: boom") == (
        "[----]   0% retrying · attempt 1 of 3 failed · RuntimeError: boom")
    assert line("pending", 1) == "[----]   0% pending · attempt 2 of 3 next"
    assert line("completed", 3, 100, "finalizing") == "[####] 100% completed"
    assert line("failed", 3, 40, "executing", "boom") == "[##--]  40% failed after 3 attempt(s)"


@pytest.mark.django_db
def test_follow_job_yields_changes_until_final_and_times_out() -> None:
    job = job_enqueue(type="demo.noop", payload={}).job
    ticks = iter(range(100))
    steps = [
        {"status": JobStatus.ACTIVE, "progress_percent": 40, "progress_stage": "half"},
        {},  # no change: nothing yielded
        {"status": JobStatus.COMPLETED, "progress_percent": 100},
    ]

    def sleep(_: float) -> None:  # the "worker" moves the job on between polls
        QueueJob.objects.filter(pk=job.pk).update(**steps.pop(0))

    polled = follow_job(job.id, sleep=sleep, clock=lambda: next(ticks), events=False)
    seen = [(j["status"], j["progress"]["percent"]) for j in polled]
    assert seen == [("pending", 0), ("active", 40), ("completed", 100)]

    other = job_enqueue(type="demo.noop", payload={}).job
    with pytest.raises(WaitTimeout, match="still pending"):
        list(follow_job(other.id, timeout=0.05, interval=0.01))


@pytest.mark.django_db
def test_bootstrap_demo_skips_unregistered_demo_types(monkeypatch: pytest.MonkeyPatch) -> None:
    real = {name: jt for name, jt in registry._registry.items() if not name.startswith("demo.")}
    monkeypatch.setattr(registry, "_registry", real)
    out = io.StringIO()
    call_command("bootstrap_demo", "--password", "pw", stdout=out)
    assert "skipped demo.sleep (not registered" in out.getvalue()
    assert sorted(QueueJob.objects.values_list("type", flat=True)) == ["ai.summarize", "email.send",
                                                                      "indexing.reindex"]
