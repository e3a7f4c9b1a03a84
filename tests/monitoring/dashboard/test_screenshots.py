"""Every dashboard page in Chromium, light and dark, over a realistic history: no script error, nothing
wider than the window. With DASHBOARD_SCREENSHOTS=1 the pictures go to docs/ (the README shows them)."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from jobs.engine.enqueue import job_enqueue
from jobs.engine.queues import queue_pause
from jobs.management.generate import generate_jobs
from jobs.models import QueueJob, Schedule
from tests.conftest import CHROMIUM, ROOT, Processes, wait_for

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium "
                                                     "(apt-get install chromium); never `playwright install`"),
]


def test_every_page_renders_cleanly_in_both_themes(browser_page: Any, server: str, processes: Processes,
                                                   tmp_path: Path) -> None:
    from playwright.sync_api import expect

    out = ROOT / "docs" if os.environ.get("DASHBOARD_SCREENSHOTS") == "1" else tmp_path
    generate_jobs(count=20_000, days=1)
    queue_pause(name="report")
    processes.worker("default", "ai", "email")
    running = job_enqueue(type="demo.sleep", payload={"seconds": 60, "steps": 6}).job
    wait_for(lambda: QueueJob.objects.get(pk=running.id).status == "active", message="a job running")
    failed = QueueJob.objects.filter(status="failed", type="email.send", attempts=3).order_by("-finished_at").first()
    page = browser_page
    shots = [
        ("dashboard-overview", "/admin/queues/", "#queues-table"),
        ("dashboard-queue", "/admin/queues/queue/email/?state=failed", "#jobs-table"),
        ("dashboard-job", f"/admin/queues/jobs/{failed.id}/", "#job-timeline"),
        ("dashboard-dead-letters", "/admin/queues/dead-letters/", "#dead-letter-groups"),
        ("dashboard-workers", "/admin/queues/workers/", "#workers-table"),
        ("dashboard-metrics", "/admin/queues/metrics/?window=24h", "#metrics-types"),
        ("dashboard-add-job", "/admin/queues/add/email.send/", "#add-job-form"),
        ("dashboard-search", "/admin/queues/search/?q=example.com", "#search-results"),
    ]
    for theme in ("light", "dark"):
        page.evaluate(f"localStorage.setItem('theme', '{theme}')")
        for name, url, marker in shots:
            page.goto(server + url)
            expect(page.locator(marker)).to_be_visible()
            if name == "dashboard-add-job":  # show an inline validation error too
                page.fill("#id_to", "ada@example.com\nnot-an-address")
                page.fill("#id_subject", "Your invoice")
                page.fill("#id_body", "Hello Ada, your invoice is attached.")
                page.click("#add-job-submit")
                expect(page.locator(".row.has-error")).to_be_visible()
            if url == "/admin/queues/" or name == "dashboard-metrics":
                expect(page.locator("[data-live]")).to_have_text("live")
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{name} ({theme}) is {overflow}px wider than the window"
            if name == "dashboard-metrics":  # its charts are drawn, and its tables fit a phone too
                expect(page.locator("#metrics-duration path.p95")).to_have_count(1)
                page.set_viewport_size({"width": 420, "height": 900})
                expect(page.locator("#metrics-throughput svg rect.c").first).to_be_attached()
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"{name} ({theme}) is {overflow}px wider than a 420 px window"
                page.screenshot(path=str(tmp_path / f"{name}-420-{theme}.png"), full_page=True)
                page.set_viewport_size({"width": 1360, "height": 900})
            if theme == "light" or name == "dashboard-overview":
                page.screenshot(path=str(out / f"{name}{'-dark' if theme == 'dark' else ''}.png"))
    assert (out / "dashboard-overview-dark.png").exists()


def test_pages_fit_a_phone_and_the_schedules_list_fits_a_laptop(browser_page: Any, server: str) -> None:
    """Issue 12 item 10: counter cards overflowed at 420 px; the schedules list wrapped cron expressions and
    cut its last column at 1,400 px; the schedule form's type dropdown ran off the page."""
    from django.contrib.auth.models import Permission, User
    from playwright.sync_api import expect

    job = job_enqueue(type="demo.flaky", payload={"failures": 0}).job
    Schedule.objects.get_or_create(name="monthly-report", defaults={"job_type": "report.queue_summary",
                                                                    "cron": "0 0 1 * *"})  # earlier tests flush tables
    operator = User.objects.get(username="operator")
    operator.user_permissions.add(*Permission.objects.filter(codename__in=["view_schedule", "add_schedule"]))
    page = browser_page
    page.set_viewport_size({"width": 420, "height": 900})
    for url, marker in [("/admin/queues/", "#queues-table"), ("/admin/queues/queue/default/", "#jobs-table"),
                        (f"/admin/queues/jobs/{job.id}/", "#job-timeline"), ("/admin/queues/add/demo.sleep/", "#add-job-form"),
                        ("/admin/queues/metrics/", "#metrics-empty")]:
        page.goto(server + url)
        expect(page.locator(marker)).to_be_attached()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{url} is {overflow}px wider than a 420 px window"
    tiles = page.goto(server + "/admin/queues/") and page.locator(".qd-tile")
    expect(tiles.first).to_be_visible()
    right = page.evaluate("Math.max(...[...document.querySelectorAll('.qd-tile')].map(t => t.getBoundingClientRect().right))")
    assert right <= 420, f"a counter card ends at {right}px"

    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(server + "/admin/jobs/schedule/")
    table = page.locator("#result_list")
    expect(table).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    box, last = table.bounding_box(), page.locator("#result_list thead th").last.bounding_box()
    assert box and last and last["x"] + last["width"] <= box["x"] + box["width"] + 1 <= 1400, (box, last)
    cron = page.locator("#result_list tbody tr").first.locator("td code")
    expect(cron).to_have_text(re.compile(r"^[0-9*/,\- ]+$"))
    line = cron.evaluate("el => parseFloat(getComputedStyle(el).lineHeight) || el.getBoundingClientRect().height")
    assert cron.evaluate("el => el.parentElement.getBoundingClientRect().height") < 1.6 * line, "the cron wrapped"
    expect(page.locator("#result_list tbody a", has_text="fired jobs").first).to_be_visible()
    page.goto(server + "/admin/jobs/schedule/add/")
    select = page.locator("#id_job_type")
    expect(select).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    assert select.evaluate("el => el.getBoundingClientRect().right <= el.closest('form').getBoundingClientRect().right")
