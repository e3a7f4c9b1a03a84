"""The search box on every dashboard page (issue 12, item 4): any queue, by id, id prefix, payload or error."""
from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from jobs.engine.enqueue import job_enqueue
from jobs.models import QueueJob
from tests.conftest import CHROMIUM, make_user


@pytest.fixture
def viewer_client(db: None) -> Client:
    client = Client()
    client.force_login(make_user("viewer"))
    return client


def test_every_page_has_the_search_box(viewer_client: Client) -> None:
    for page in ("/admin/queues/", "/admin/queues/queue/email/", "/admin/queues/dead-letters/",
                 "/admin/queues/workers/"):
        assert 'id="global-search"' in viewer_client.get(page).content.decode(), page


def test_an_id_or_a_unique_prefix_goes_to_the_job_whatever_its_queue(viewer_client: Client) -> None:
    job = job_enqueue(type="email.send", payload={"to": ["a@example.com"], "subject": "s", "body": "b"}).job
    page = f"/admin/queues/jobs/{job.id}/"
    assert viewer_client.get("/admin/queues/search/", {"q": str(job.id)})["Location"] == page
    assert viewer_client.get("/admin/queues/search/", {"q": str(job.id)[:8]})["Location"] == page


def test_text_lists_matches_of_every_queue(viewer_client: Client) -> None:
    email = job_enqueue(type="email.send", payload={"to": ["a@example.com"], "subject": "Invoice 7731",
                                                     "body": "b"}).job
    noop = job_enqueue(type="ai.summarize", payload={"text": "Invoice 7731 is overdue. Pay it."}).job
    job_enqueue(type="demo.noop", payload={})
    body = viewer_client.get("/admin/queues/search/", {"q": "Invoice 7731"}).content.decode()
    assert str(email.id) in body and str(noop.id) in body and QueueJob.objects.count() == 3
    assert body.count('data-job-id="') == 2


def test_an_ambiguous_prefix_lists_the_candidates_and_short_text_says_why(viewer_client: Client) -> None:
    for suffix in ("0000-4000-8000-000000000001", "ffff-4000-8000-000000000002"):
        job = job_enqueue(type="demo.noop", payload={}).job
        QueueJob.objects.filter(pk=job.pk).update(id=uuid.UUID(f"053a8a51-{suffix}"))
    listed = viewer_client.get("/admin/queues/search/", {"q": "053a8a51"})
    assert listed.status_code == 200 and listed.content.decode().count('data-job-id="') == 2
    short = viewer_client.get("/admin/queues/search/", {"q": "ab"})
    assert short.status_code == 400 and "at least 3 characters" in short.content.decode()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")
def test_the_search_box_finds_a_job_from_the_overview(browser_page: Any, server: str) -> None:
    from playwright.sync_api import expect

    job = job_enqueue(type="ai.summarize", payload={"text": "A rare word: zanzibarian. Second sentence."}).job
    page = browser_page
    page.goto(f"{server}/admin/queues/")
    page.fill("#global-search", str(job.id)[:8])
    page.press("#global-search", "Enter")
    expect(page).to_have_url(f"{server}/admin/queues/jobs/{job.id}/")
    page.fill("#global-search", "zanzibarian")
    page.press("#global-search", "Enter")
    expect(page.locator("#search-results tbody tr")).to_have_count(1)
    page.screenshot(path="/tmp/search.png", full_page=True)
