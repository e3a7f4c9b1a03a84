"""Crafted filter input (issue 11, finding 17): text PostgreSQL cannot store answers 4xx, never a 500.

Through Django's test client with a staff session, as a person (or a script
holding a session) would send it.
"""
from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from jobs.engine.enqueue import job_enqueue

pytestmark = pytest.mark.django_db

NUL = "a%00b"


def client_for(user: Any) -> Client:
    client = Client(raise_request_exception=False)  # a 500 shows as a status here, not as the test's exception
    client.force_login(user)
    return client


@pytest.mark.parametrize("field", ["type", "error", "q"])
def test_a_nul_in_a_queue_filter_is_a_400_with_the_field_named(operator: Any, field: str) -> None:
    job = job_enqueue(type="demo.noop").job
    client = client_for(operator)
    page = client.get(f"/admin/queues/queue/default/?{field}={NUL}")
    assert page.status_code == 400
    assert f"{field}: must not contain NUL characters" in page.content.decode()
    assert str(job.id) in page.content.decode()  # the page still lists the queue, unfiltered
    count = client.get(f"/admin/queues/queue/default/count/?{field}={NUL}")
    assert count.status_code == 400 and "NUL" in count.json()["detail"]


def test_a_nul_in_the_dead_letter_type_is_a_400(operator: Any) -> None:
    response = client_for(operator).get(f"/admin/queues/dead-letters/?type={NUL}")
    assert response.status_code == 400 and b"NUL" in response.content


@pytest.mark.parametrize("field", ["type", "error"])
def test_a_nul_in_a_bulk_actions_filter_does_nothing_and_says_why(operator: Any, field: str) -> None:
    client = client_for(operator)
    confirm = client.get(f"/admin/queues/action/?action=retry&scope=filter&{field}={NUL}", follow=True)
    assert confirm.status_code == 200 and "Nothing done: " in confirm.content.decode()
    done = client.post("/admin/queues/action/", {"action": "retry", "scope": "filter", field: "a\x00b"}, follow=True)
    assert done.status_code == 200 and "must not contain NUL characters" in done.content.decode()
