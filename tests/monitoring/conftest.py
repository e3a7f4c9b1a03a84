"""Fixtures for the monitoring tests: users with and without the watch permission, a clean relay."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.layers import get_channel_layer

from monitoring.live.relay import stop_relay
from tests.conftest import make_user

PASSWORD = "watch-it-live-42"


@pytest.fixture
def watcher(transactional_db: None) -> Any:
    return make_user("watcher")


@pytest.fixture
async def clean_relay() -> AsyncIterator[None]:
    """Stops this test's relay and channel layer before pytest-asyncio closes the event loop."""
    yield
    await stop_relay()
    await get_channel_layer().flush()
