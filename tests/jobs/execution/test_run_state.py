"""jobs.execution.run_state and jobs.execution.deadline: time limits and the shutdown request, in one thread."""
from __future__ import annotations

import time

import pytest

from jobs.core.errors import JobTimeout, WorkerShutdown
from jobs.execution.deadline import Deadline
from jobs.execution.run_state import RunState, current_run, running


def test_a_handler_past_its_time_limit_gets_job_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(JobTimeout, match="time limit of 0.1 s"), Deadline(0.1):
        time.sleep(5)
    assert time.monotonic() - started < 1


def test_a_shutdown_shortens_the_deadline_and_raises_worker_shutdown() -> None:
    state = RunState()
    started = time.monotonic()
    with pytest.raises(WorkerShutdown), Deadline(30) as deadline:
        state.arm(deadline)
        state.request_shutdown(0.1)
        time.sleep(5)
    assert time.monotonic() - started < 1


def test_a_shutdown_requested_before_the_deadline_is_armed_applies_when_it_is() -> None:
    state = RunState()
    state.request_shutdown(0.1)  # the signal came between the claim and the handler's start
    started = time.monotonic()
    with pytest.raises(WorkerShutdown), Deadline(30) as deadline:
        state.arm(deadline)
        time.sleep(5)
    assert time.monotonic() - started < 1


def test_the_handlers_own_limit_wins_when_it_comes_before_the_grace_period() -> None:
    state = RunState()
    with pytest.raises(JobTimeout), Deadline(0.1) as deadline:
        state.arm(deadline)
        state.request_shutdown(30)
        time.sleep(5)


def test_a_second_request_can_only_bring_the_shutdown_closer() -> None:
    state = RunState()
    state.request_shutdown(10)
    first = state.shutdown_by
    state.request_shutdown(60)
    assert state.shutdown_by == first
    state.request_shutdown(0)
    assert state.shutdown_by is not None and first is not None and state.shutdown_by < first


def test_the_runner_fills_the_state_the_worker_handed_over_or_a_fresh_one() -> None:
    assert current_run() is not current_run()  # no worker: a fresh state each time
    state = RunState()
    with running(state):
        assert current_run() is state
    assert current_run() is not state
