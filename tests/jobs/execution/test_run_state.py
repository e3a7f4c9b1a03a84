"""Time limits: the SIGALRM deadline of the rqworker path, and the watchdog that stops slot threads."""
from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from jobs.core.errors import JobTimeout, WorkerShutdown
from jobs.core.states import AttemptOutcome, JobStatus
from jobs.engine.attempts import jobs_claim
from jobs.engine.enqueue import job_enqueue
from jobs.execution.deadline import Deadline
from jobs.execution.run_state import Run
from jobs.execution.slots import Slots
from jobs.execution.time_limits import Watchdog, raise_in_thread, stop_run


def test_a_handler_past_its_time_limit_gets_job_timeout_in_the_main_thread() -> None:
    started = time.monotonic()
    with pytest.raises(JobTimeout, match="time limit of 0.1 s"), Deadline(0.1):
        time.sleep(5)
    assert time.monotonic() - started < 1


def test_an_exception_raised_into_a_thread_stops_pure_python_code() -> None:
    caught: list[BaseException] = []

    def spin() -> None:
        try:
            while True:
                pass
        except JobTimeout as exc:
            caught.append(exc)

    thread = threading.Thread(target=spin)
    thread.start()
    time.sleep(0.05)
    assert raise_in_thread(thread.ident, JobTimeout)
    thread.join(timeout=2)
    assert not thread.is_alive() and len(caught) == 1


def _run(deadline: float) -> Run:
    claim = SimpleNamespace(job_id="j", attempt_id=1, queue="default", timeout=1.0)
    return Run(claim=claim, deadline=deadline, thread_id=None)  # type: ignore[arg-type]


def test_the_watchdog_times_runs_out_and_writes_off_those_that_ignore_it() -> None:
    past, future, stuck = _run(deadline=0.0), _run(deadline=float("inf")), _run(deadline=0.0)
    past.thread_id = future.thread_id = stuck.thread_id = 0  # no real thread: raise_in_thread finds none
    stuck.stopping, stuck.stopping_since = JobTimeout, time.monotonic() - 5
    written_off: list[Run] = []
    watchdog = Watchdog(running=lambda: [past, future, stuck], write_off=written_off.append, grace=1.0)
    watchdog.check()
    assert past.stopping is JobTimeout and future.stopping is None
    assert written_off == [stuck] and stuck.written_off
    watchdog.check()
    assert written_off == [stuck]  # once


def test_a_second_different_stop_replaces_the_first_but_the_same_one_is_not_repeated() -> None:
    run = _run(deadline=0.0)
    stop_run(run, JobTimeout)
    since = run.stopping_since
    stop_run(run, JobTimeout)
    assert run.stopping_since == since
    stop_run(run, WorkerShutdown)
    assert run.stopping is WorkerShutdown


@pytest.mark.django_db
def test_a_run_stopped_before_its_handler_began_does_not_begin() -> None:
    """A shutdown can come between the claim and the slot picking the run up (seen in CI with the old
    worker): the handler must not start, and the job goes back uncharged."""
    job = job_enqueue(type="demo.sleep", payload={"seconds": 5, "steps": 1}).job
    (claim,) = jobs_claim([job.id], worker="t", pid=1, lease=30)
    run = Run(claim)
    stop_run(run, WorkerShutdown)
    started = time.monotonic()
    finish = Slots._perform(run)
    assert time.monotonic() - started < 1
    assert finish is not None and (finish.outcome, finish.status) == (AttemptOutcome.INTERRUPTED, JobStatus.PENDING)
    assert finish.uncharged
