"""A run's log (jobs.execution.run_log): capture through ctx.logger and ctx.log, the cap and its marker,
batched writes that cost nothing when a handler logs nothing."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.core.config import get_config
from jobs.engine.attempts import Claim, attempts_finish, job_claim
from jobs.engine.enqueue import job_enqueue
from jobs.execution.context import JobContext
from jobs.execution.progress import ProgressWriter
from jobs.execution.run_log import RunLog
from jobs.execution.runner import perform
from jobs.jobtypes.demo import NoopPayload
from jobs.models import JobLogLine


def _claim(attempt_id: int = 1) -> Claim:
    return Claim(job_id=uuid.uuid4(), type="demo.noop", queue="default", priority=5, payload={}, attempt=1,
                 charged=1, max_attempts=3, retry_policy={}, timeout=10.0, correlation_id="corr-7",
                 attempt_id=attempt_id, shape={})


class Waiting:
    """Stands in for the progress thread: records which logs said they have lines waiting."""

    def __init__(self) -> None:
        self.logs: list[RunLog] = []

    def put_log(self, run_log: RunLog) -> None:
        self.logs.append(run_log)

    def put(self, *args: Any) -> None:
        pass

    def cancel_requested(self, job_id: Any) -> bool:
        return False


@pytest.fixture
def caps(settings: Any) -> Iterator[Any]:
    """Set JOB_LOG_MAX_LINES / JOB_LOG_MAX_BYTES for one test."""
    def set_caps(lines: int = 1000, size: int = 65536) -> None:
        settings.JOB_LOG_MAX_LINES, settings.JOB_LOG_MAX_BYTES = lines, size
        get_config.cache_clear()

    yield set_caps
    get_config.cache_clear()


def test_lines_are_numbered_and_past_the_line_cap_one_marker_counts_the_dropped(caps: Any) -> None:
    caps(lines=3)
    waiting = Waiting()
    log = RunLog(_claim(), on_waiting=waiting.put_log)
    for n in range(1, 11):
        log.add(logging.INFO, f"line {n}")
    assert waiting.logs == [log]  # told once, not per line
    assert [(line.number, line.message) for line in log.unwritten()] == [(1, "line 1"), (2, "line 2"), (3, "line 3")]
    log.written(2)
    tail = log.close()
    assert [line.number for line in tail] == [3, 4]
    assert tail[-1].level == "WARNING"
    assert tail[-1].message.startswith("… 7 more lines dropped: an attempt keeps at most 3 lines")
    log.add(logging.INFO, "after the end")  # a stray thread of the handler
    assert log.unwritten() == [] and log.close() == ()


def test_the_byte_cap_keeps_a_prefix_and_text_is_made_storable(caps: Any) -> None:
    caps(size=12)
    log = RunLog(_claim(), on_waiting=Waiting().put_log)
    log.add(logging.INFO, "nul\x00here")  # 9 bytes once the NUL is U+FFFD (3 bytes)
    log.add(logging.INFO, "1234")  # would pass 12 bytes: dropped, and the log is full from here on
    log.add(logging.INFO, "ab")
    lines = log.close()
    assert [line.message for line in lines[:-1]] == ["nul\ufffdhere"]
    assert "2 more lines dropped" in lines[-1].message and lines[-1].number == 2


def test_no_line_kept_at_all_still_says_what_was_dropped(caps: Any) -> None:
    caps(lines=0)
    log = RunLog(_claim(), on_waiting=Waiting().put_log)
    log.add(logging.INFO, "x")
    (marker,) = log.close()
    assert marker.number == 1 and "1 more line dropped" in marker.message


def test_ctx_logger_keeps_its_records_formatting_and_ctx_log_keeps_lines_only_on_the_attempt(
        caplog: pytest.LogCaptureFixture) -> None:
    waiting = Waiting()
    ctx = JobContext(_claim(), payload=NoopPayload(), writer=waiting)  # type: ignore[arg-type]
    caplog.set_level(logging.INFO, logger="jobs.handler")
    ctx.logger.info("fetched %d rows from %s", 3, "db")
    ctx.logger.debug("not emitted at INFO, so not kept")
    ctx.log("a line for the job page only")
    try:
        raise KeyError("missing")
    except KeyError:
        ctx.logger.exception("lookup failed")
    ctx.logger.warning("%(n)s left", {"n": 2})

    records = [r for r in caplog.records if r.name == "jobs.handler.demo.noop"]
    assert [r.getMessage() for r in records] == [
        f"job={ctx.job_id} correlation_id=corr-7 fetched 3 rows from db",
        f"job={ctx.job_id} correlation_id=corr-7 lookup failed",
        f"job={ctx.job_id} correlation_id=corr-7 2 left"]
    # The records still name the handler's own line, not jobs/execution/context.py.
    assert {r.funcName for r in records} == {
        "test_ctx_logger_keeps_its_records_formatting_and_ctx_log_keeps_lines_only_on_the_attempt"}
    assert records[0].job_id == str(ctx.job_id)

    lines = ctx.close_log()
    assert [(line.level, line.message.splitlines()[0]) for line in lines] == [
        ("INFO", "fetched 3 rows from db"), ("INFO", "a line for the job page only"), ("ERROR", "lookup failed"),
        ("WARNING", "2 left")]
    assert "KeyError: 'missing'" in lines[2].message  # the traceback, as a formatter would print it
    assert [line.number for line in lines] == [1, 2, 3, 4] and all(line.attempt == 1 for line in lines)


@pytest.mark.django_db
def test_a_handler_that_logs_nothing_costs_no_statement_and_many_lines_cost_one(settings: Any) -> None:
    quiet = job_claim(job_enqueue(type="demo.noop").job.id, worker="w", pid=1, lease=30)
    chatty = job_claim(job_enqueue(type="demo.log", payload={"lines": 50}).job.id, worker="w", pid=1, lease=30)
    assert quiet is not None and chatty is not None
    waiting = Waiting()
    finish = perform(quiet, writer=waiting)  # type: ignore[arg-type]
    assert finish is not None and finish.log == () and waiting.logs == []
    with CaptureQueriesContext(connection) as queries:
        attempts_finish([finish])
    assert not [q for q in queries if "joblogline" in q["sql"]]

    # In a worker the progress thread writes every run's waiting lines in one statement per tick.
    writer = ProgressWriter(running=list)
    ctx = JobContext(chatty, payload=NoopPayload(), writer=writer)
    for n in range(50):
        ctx.logger.info("line %d", n)
    with CaptureQueriesContext(connection) as queries:
        writer.flush()
        writer.flush()  # nothing new: nothing written
    assert len([q for q in queries if "joblogline" in q["sql"]]) == 1
    assert JobLogLine.objects.filter(attempt_id=chatty.attempt_id).count() == 50
    ctx.logger.info("the last one")
    assert [line.number for line in ctx.close_log()] == [51]  # written lines do not go with the finish again
