"""End to end in Debian's Chromium: a real uvicorn, a real worker, the progress page updating by itself."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from jobs.engine.enqueue import job_enqueue
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, Processes, make_user
from tests.monitoring.conftest import PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium "
                                                     "(apt-get install chromium); never `playwright install`"),
]


@pytest.mark.django_db(transaction=True)
def test_progress_page_follows_a_multi_stage_job_live(server: str, processes: Processes, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    make_user("watcher", password=PASSWORD)
    steps = 4
    job = job_enqueue(type="demo.sleep", payload={"seconds": 2.0, "steps": steps},
                      correlation_id="browser-e2e").job  # pending: no worker runs yet
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 640})
            page.goto(f"{server}/admin/queues/jobs/{job.id}/")
            expect(page).to_have_url(re.compile(r"/admin/login/\?next="))  # not logged in yet
            page.fill("#id_username", "watcher")
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            expect(page).to_have_url(f"{server}/admin/queues/jobs/{job.id}/")
            expect(page.locator(".breadcrumbs")).to_contain_text("Queues")
            expect(page.locator('[data-field="status"]')).to_have_text("pending")
            expect(page.locator('[data-field="live"]')).to_have_text("live")
            page.evaluate("window.notReloaded = true")

            processes.worker("default")  # only now does the job start: every change must arrive live
            expect(page.locator('[data-field="status"]')).to_have_text("active", timeout=15000)
            expect(page.locator('[data-field="stage"]')).to_have_text(re.compile(r"step [2-4]/4"), timeout=10000)
            expect(page.locator('[data-field="status"]')).to_have_text("completed", timeout=15000)
            expect(page.locator('[data-field="percent"]')).to_have_text("100 %")
            expect(page.locator('[data-field="bar"]')).to_have_attribute("aria-valuenow", "100")
            stages = page.locator('[data-field="stages"] li').all_text_contents()
            assert stages == [f"step {n}/{steps}" for n in range(1, steps + 1)] + ["done"], stages
            expect(page.locator('[data-field="result"]')).to_contain_text('"slept": 2')
            expect(page.locator('[data-field="attempts"]')).to_have_text("1 of 3")
            assert page.evaluate("window.notReloaded") is True
            page.wait_for_function("""() => {  // the bar's width animation has finished
                const bar = document.querySelector('[data-field="bar"]').getBoundingClientRect();
                return document.querySelector('[data-field="fill"]').getBoundingClientRect().width >= bar.width - 2;
            }""")
            out = ROOT / "docs" if os.environ.get("DASHBOARD_SCREENSHOTS") == "1" else tmp_path
            page.screenshot(path=str(out / "progress-view.png"), full_page=True)
        finally:
            browser.close()
