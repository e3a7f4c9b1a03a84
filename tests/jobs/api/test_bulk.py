"""POST /api/jobs/bulk: up to 1,000 jobs, each judged on its own, the accepted ones in one INSERT."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.core.transport import get_rq_queue
from jobs.models import QueueJob
from tests.jobs.api.test_views import ALL_PERMISSIONS, bearer_client, make_user, post_json

pytestmark = pytest.mark.django_db(transaction=True)  # committed: the Redis hand-over happens


@pytest.fixture
def api():
    return bearer_client(make_user("bulk", *ALL_PERMISSIONS))


def test_each_item_is_answered_on_its_own_and_only_valid_ones_are_created(api) -> None:
    items = [
        {"type": "demo.sleep", "payload": {"seconds": 1}},
        {"type": "demo.sleep", "payload": {"seconds": -1}},  # the type's schema refuses it
        {"type": "demo.noop", "colour": "red"},  # not a field of POST /api/jobs
        {"type": "demo.noop", "unique_key": "k-1"},
        {"type": "demo.noop", "unique_key": "k-1"},  # the same key: the live job of item 3
        {"type": "no.such.type"},
    ]
    response = post_json(api, "/api/jobs/bulk", {"jobs": items})
    assert response.status_code == 200, response.content
    body = response.json()
    assert [item["code"] for item in body["items"]] == [202, 422, 422, 202, 200, 422]
    assert [item["index"] for item in body["items"]] == list(range(6))
    assert (body["accepted"], body["rejected"]) == (3, 3)
    assert body["items"][1]["errors"][0]["field"] == "payload.seconds"
    assert body["items"][2]["errors"][0]["field"] == "colour"
    assert body["items"][5]["errors"][0]["field"] == "type"
    assert body["items"][4]["id"] == body["items"][3]["id"]
    created = {item["id"] for item in body["items"] if item["code"] == 202}
    assert set(map(str, QueueJob.objects.values_list("id", flat=True))) == created
    assert get_rq_queue("default").count == 2  # both new jobs reached Redis


def test_accepted_items_without_unique_keys_are_one_insert(api) -> None:
    with CaptureQueriesContext(connection) as queries:
        response = post_json(api, "/api/jobs/bulk", {"jobs": [{"type": "demo.noop"}] * 100})
    assert response.json()["accepted"] == 100
    inserts = [q["sql"] for q in queries if q["sql"].startswith('INSERT INTO "jobs_queuejob"')]
    assert len(inserts) == 1
    assert get_rq_queue("default").count == 100


def test_more_than_a_thousand_items_or_none_are_refused_whole(api) -> None:
    assert post_json(api, "/api/jobs/bulk", {"jobs": [{"type": "demo.noop"}] * 1001}).status_code == 422
    assert post_json(api, "/api/jobs/bulk", {"jobs": []}).status_code == 422
    assert post_json(api, "/api/jobs/bulk", {"jobs": [{"type": "demo.noop"}], "extra": 1}).status_code == 422
    assert not QueueJob.objects.exists()


def test_bulk_enqueue_needs_the_add_permission() -> None:
    viewer = bearer_client(make_user("viewer", "view_queuejob"))
    assert post_json(viewer, "/api/jobs/bulk", {"jobs": [{"type": "demo.noop"}]}).status_code == 403
    assert not QueueJob.objects.exists()
