"""Fixtures for the dashboard tests: users by permission, a logged-in Chromium page (server: tests/conftest.py)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, make_user

PASSWORD = "queue-dash-pw-42"
ACTIONS = ("add_queuejob", "change_queuejob", "delete_queuejob", "retry_queuejob", "cancel_queuejob", "pause_queue")

@pytest.fixture
def viewer(db: None) -> Any:
    """May look, may not act."""
    return make_user("viewer")


@pytest.fixture
def operator(db: None) -> Any:
    """May look and take every action."""
    return make_user("operator", perms=("view_queuejob", *ACTIONS))


@pytest.fixture
def browser_page(server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A Chromium page logged in to the admin as a user with every dashboard permission.

    Playwright's sync API keeps an event loop running in this thread, which makes
    Django refuse ORM calls; the tests make them between browser steps, never from
    the loop, so Django's documented escape hatch is safe here.
    """
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium); "
                    "never `playwright install`")
    from playwright.sync_api import expect, sync_playwright

    make_user("operator", perms=("view_queuejob", *ACTIONS, "enqueue_email.send"), password=PASSWORD)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{server}/admin/queues/")
            expect(page).to_have_url(f"{server}/admin/login/?next=/admin/queues/")
            page.fill("#id_username", "operator")
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            expect(page).to_have_url(f"{server}/admin/queues/")
            page.js_errors = errors  # type: ignore[attr-defined]
            yield page
            assert not errors, f"JavaScript errors: {errors}"
        finally:
            browser.close()
            # The test's ORM calls ran while Playwright's loop was running, on connections
            # of that context: close them here, or the test database cannot be dropped.
            connections.close_all()
