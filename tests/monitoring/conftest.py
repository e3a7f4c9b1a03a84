"""Fixtures for the monitoring tests: users with and without the watch permission, a clean relay."""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from channels.layers import get_channel_layer

from monitoring.live.relay import stop_relay
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, make_user

PASSWORD = "watch-it-live-42"


@contextmanager
def watcher_page(server: str, path: str, *, height: int = 900) -> Iterator[Any]:
    """Debian's Chromium on ``path``, logged in through the admin's login form as "watcher" (made by the
    test with PASSWORD)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": height})
            page.goto(f"{server}{path}")
            page.fill("#id_username", "watcher")
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            yield page
        finally:
            browser.close()


@pytest.fixture
def watcher(transactional_db: None) -> Any:
    return make_user("watcher")


@pytest.fixture
async def clean_relay() -> AsyncIterator[None]:
    """Stops this test's relay and channel layer before pytest-asyncio closes the event loop."""
    yield
    await stop_relay()
    await get_channel_layer().flush()
