import random

import pytest

from jobs.core.retry import RetryPolicy


def test_sequence_uses_delays_in_order_then_repeats_the_last():
    policy = RetryPolicy(max_attempts=5, backoff="sequence", delays=(1, 5, 30), jitter=0)
    assert [policy.next_delay(n) for n in (1, 2, 3, 4)] == [1, 5, 30, 30]


def test_exponential_doubles_from_the_base():
    policy = RetryPolicy(max_attempts=5, backoff="exponential", delays=(2,), jitter=0)
    assert [policy.next_delay(n) for n in range(1, 6)] == [2, 4, 8, 16, 32]


def test_fixed_is_constant():
    policy = RetryPolicy(max_attempts=3, backoff="fixed", delays=(5,), jitter=0)
    assert {policy.next_delay(n) for n in range(1, 4)} == {5}


def test_cap_bounds_every_delay_even_with_jitter():
    policy = RetryPolicy(max_attempts=99, backoff="exponential", delays=(1,), cap=60, jitter=0.5)
    assert max(policy.next_delay(n, random.Random(n)) for n in range(1, 99)) <= 60


def test_jitter_stays_within_its_fraction():
    policy = RetryPolicy(max_attempts=3, backoff="fixed", delays=(10,), jitter=0.1)
    delays = [policy.next_delay(1, random.Random(seed)) for seed in range(200)]
    assert 9 <= min(delays) < 10 < max(delays) <= 11


def test_round_trips_through_json():
    policy = RetryPolicy(max_attempts=4, backoff="sequence", delays=(1, 2), cap=9, jitter=0.2)
    assert RetryPolicy.from_json(policy.to_json()) == policy


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": 1, "backoff": "linear"},
        {"max_attempts": 1, "delays": ()},
        {"max_attempts": 1, "delays": (-1,)},
        {"max_attempts": 1, "backoff": "fixed", "delays": (1, 2)},
        {"max_attempts": 1, "jitter": 1.5},
    ],
)
def test_invalid_policies_are_rejected(kwargs):
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


def test_queue_defaults_follow_the_design_table(settings):
    from jobs.core.config import get_config

    queues = get_config().queues
    assert queues["default"].retry.delays == (1, 5, 30) and queues["default"].retry.max_attempts == 3
    assert [queues["ai"].retry.base_delay(n) for n in range(1, 6)] == [2, 4, 8, 16, 32]
    assert queues["indexing"].retry.backoff == "fixed" and queues["indexing"].retry.delays == (5,)
    assert queues["email"].priority == 2 and queues["notification"].retry.max_attempts == 5


def test_job_max_attempts_overrides_queue_attempts(settings):
    from jobs.core.config import get_config

    settings.JOB_MAX_ATTEMPTS = 7
    assert {q.retry.max_attempts for q in get_config().queues.values()} == {7}
