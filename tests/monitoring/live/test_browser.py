"""End to end in Debian's Chromium: a real uvicorn, a real worker, the progress page updating by itself."""
from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

import pytest

from jobs.engine.enqueue import job_enqueue
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, Processes, make_user
from tests.monitoring.conftest import PASSWORD, watcher_page

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


# What the page shows at each status change, recorded inside the page as it happens: the status, the
# chips (with the class of the last one), the line under the bar and the next run. A "retrying" lasts only
# the fast retry's backoff (0.5 s), and the next attempt rightly starts its chips again, so the test
# cannot read these one after another from outside without racing the next attempt's events.
_RECORD_STATES = """() => {
    const root = document.getElementById('job-progress');
    const el = root.querySelector('[data-field="status"]');
    const read = (name) => root.querySelector(`[data-field="${name}"]`).textContent;
    const record = () => {
        const chips = [...root.querySelectorAll('[data-field="stages"] li')];
        window.states.push({
            status: el.textContent, chips: chips.map((li) => li.textContent),
            last: chips.length ? chips[chips.length - 1].className : null,
            stage: read('stage'), run_at: read('run_at'),
        });
    };
    window.states = [];
    record();
    new MutationObserver(record).observe(el, { childList: true, characterData: true, subtree: true });
}"""


@pytest.mark.django_db(transaction=True)
def test_job_page_across_retries_shows_the_current_attempt_and_a_clean_final_state(
        server: str, processes: Processes) -> None:
    """Issue 12 item 5: chips belong to the current attempt, the view never goes back to an older state,
    the lifecycle reads in the order things happened, and a finished job shows no next run or stage."""
    from playwright.sync_api import expect

    make_user("watcher", password=PASSWORD)
    job = job_enqueue(type="demo.flaky", payload={"failures": 2, "steps": 3, "step_seconds": 0.15}).job
    doomed = job_enqueue(type="demo.fail", payload={"message": "always"}).job
    chips = '[data-field="stages"] li'
    with watcher_page(server, f"/admin/queues/jobs/{job.id}/", height=900) as page:
        expect(page.locator('[data-field="live"]')).to_have_text("live")
        page.evaluate(_RECORD_STATES)
        processes.worker("default")
        processes.scheduler()  # promotes the retries

        page.wait_for_function("window.states.filter((s) => s.status === 'retrying').length >= 2", timeout=20000)
        retrying = [state for state in page.evaluate("window.states") if state["status"] == "retrying"]
        for number, state in enumerate(retrying, start=1):
            assert state["chips"] == ["step 1/3", "step 2/3", "step 3/3"], state  # this attempt's, once each
            assert state["last"] == "stopped", state
            assert state["stage"] == f"attempt {number} of 3 failed", state
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", state["run_at"]), state

        expect(page.locator('[data-field="status"]')).to_have_text("completed", timeout=20000)
        assert page.locator(chips).all_text_contents() == ["step 1/3", "step 2/3", "step 3/3"]
        assert page.locator(f"{chips}.done").count() == 3
        expect(page.locator('[data-field="percent"]')).to_have_text("100 %")
        expect(page.locator('[data-field="stage"]')).to_have_text("")
        expect(page.locator('[data-field="run_at"]')).to_have_text("–")
        expect(page.locator('[data-field="attempts"]')).to_have_text("3 of 3")
        seen = [status for status, _ in itertools.groupby(s["status"] for s in page.evaluate("window.states"))]
        assert "pending" not in [later for earlier, later in itertools.pairwise(seen) if earlier == "active"], seen
        assert seen[-1] == "completed" and seen.count("active") == 3, seen

        labels = page.locator("#job-timeline li strong")
        expect(labels.last).to_have_text("completed", timeout=10000)
        steps = [t for t in labels.all_text_contents() if t == "created" or t.startswith("attempt") or t == "completed"]
        assert steps == ["created", "attempt 1 started", "attempt 1 error", "attempt 2 started", "attempt 2 error",
                         "attempt 3 started", "attempt 3 completed", "completed"], steps
        # One date format on the page: the facts as the attempts table and the lifecycle print them.
        created = page.locator('[data-field="created_at"]').text_content()
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", created or ""), created
        assert page.locator("#job-timeline li time").first.text_content().startswith(created)
        started = page.locator("#job-attempts tbody tr td:nth-child(3)").first.text_content().strip()
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", started), started

        page.goto(f"{server}/admin/queues/jobs/{doomed.id}/")
        expect(page.locator('[data-field="status"]')).to_have_text("failed", timeout=20000)
        expect(page.locator('[data-field="run_at"]')).to_have_text("–")
        expect(page.locator('[data-field="error"]')).to_contain_text("always")
        expect(page.locator("#job-timeline li strong").last).to_have_text("failed", timeout=10000)
