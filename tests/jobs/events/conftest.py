"""Shared by the webhook tests: a loopback receiver (tests/jobs/events/receivers.py) per test."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.jobs.events.receivers import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.close()
