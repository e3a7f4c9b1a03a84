"""The job page in Debian's Chromium: a handler's log lines appear under its attempt while it runs.

A real uvicorn and a real worker, as in test_browser.py: lines go from the
handler to the worker's progress thread, PostgreSQL and the event stream, then
through the web process's relay and the job's socket to the page.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from jobs.engine.enqueue import job_enqueue
from tests.conftest import CHROMIUM, ROOT, Processes, make_user
from tests.monitoring.conftest import PASSWORD, watcher_page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium "
                                                     "(apt-get install chromium); never `playwright install`"),
]

# Polled in the page: the lines listed under an attempt while the view shows that attempt running, read together.
_SEEN = """([attempt, text]) => {
    const running = document.querySelector('[data-field="status"]').textContent === "active" &&
        document.querySelector('[data-field="attempts"]').textContent.startsWith(`${attempt} of `);
    const lines = [...document.querySelectorAll(`[data-attempt-log="${attempt}"] li .message`)].map((el) => el.textContent);
    return running && lines.includes(text) ? lines : null;
}"""


@pytest.mark.django_db(transaction=True)
def test_log_lines_appear_under_their_attempt_while_the_job_runs(server: str, processes: Processes,
                                                                 tmp_path: Path) -> None:
    from playwright.sync_api import expect

    make_user("watcher", password=PASSWORD)
    job = job_enqueue(type="demo.log", payload={"lines": 8, "line_seconds": 0.5, "failures": 1}).job
    with watcher_page(server, f"/admin/queues/jobs/{job.id}/", height=1000) as page:
        expect(page.locator('[data-field="live"]')).to_have_text("live")
        page.evaluate("window.notReloaded = true")
        processes.worker("default")
        processes.scheduler()  # promotes the retry

        # The second line is logged about 0.5 s after the first; it is on the page while the job still runs
        # (8 lines, 4 s), without a reload.
        seen = page.wait_for_function(_SEEN, arg=[1, "attempt 1 line 2"], timeout=15000).json_value()
        assert seen[:2] == ["attempt 1 line 1", "attempt 1 line 2"] and len(seen) < 8, seen
        seen = page.wait_for_function(_SEEN, arg=[2, "attempt 2 line 3"], timeout=20000).json_value()
        assert seen[:3] == [f"attempt 2 line {n}" for n in (1, 2, 3)], seen

        expect(page.locator('[data-field="status"]')).to_have_text("completed", timeout=20000)
        first = page.locator('[data-attempt-log="1"] li')
        second = page.locator('[data-attempt-log="2"] li')
        expect(second).to_have_count(8, timeout=5000)
        assert second.locator(".message").all_text_contents() == [f"attempt 2 line {n}" for n in range(1, 9)]
        assert first.locator(".message").all_text_contents() == (
            [f"attempt 1 line {n}" for n in range(1, 9)] + ["attempt 1 fails on purpose"])
        expect(first.last.locator(".level")).to_have_text("WARNING")
        expect(page.locator("#job-attempts details.qd-log[open] summary")).to_have_text(
            "Log of attempt 2 · 8 lines")
        assert page.evaluate("window.notReloaded") is True

        page.reload()  # the stored log, as the server renders it, is the same
        assert page.locator('[data-attempt-log="2"] li .message').all_text_contents() == [
            f"attempt 2 line {n}" for n in range(1, 9)]
        out = ROOT / "docs" if os.environ.get("DASHBOARD_SCREENSHOTS") == "1" else tmp_path
        page.locator('#job-attempts details.qd-log').first.evaluate("el => { el.open = true; }")
        page.screenshot(path=str(out / "job-log.png"), full_page=True)
