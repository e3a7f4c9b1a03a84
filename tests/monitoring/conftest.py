"""Fixtures for the monitoring tests: users with and without the watch permission, a clean relay."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.contrib.auth.models import Permission

from monitoring.relay import stop_relay

PASSWORD = "watch-it-live-42"


def make_user(username: str, *, staff: bool = True, can_view: bool = True, password: str | None = None) -> Any:
    """A user; give a password only to log in through a form (hashing one costs ~0.2 s)."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username, password=password, is_staff=staff)
    if can_view:
        user.user_permissions.add(Permission.objects.get(codename="view_queuejob", content_type__app_label="jobs"))
    return user


@pytest.fixture
def watcher(transactional_db: None) -> Any:
    return make_user("watcher")


@pytest.fixture
async def clean_relay() -> AsyncIterator[None]:
    """Stops this test's relay and channel layer before pytest-asyncio closes the event loop."""
    yield
    await stop_relay()
    await get_channel_layer().flush()
