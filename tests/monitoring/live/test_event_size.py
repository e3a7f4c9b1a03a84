"""Events stay small whatever a job carries, and the Redis stream does not keep old ones.

A 2 MB job enqueued over HTTP reaches a watching WebSocket, the stream and
the log as a preview of its payload (the full row is one GET away); stream
entries older than JOB_EVENT_STREAM_MAX_AGE are trimmed by the next publish.
"""
from __future__ import annotations

import json
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import Client

from jobs.core.transport import redis_connection
from jobs.events import emit as events
from jobs.events.stream import STREAM
from monitoring.live.routing import websocket_urlpatterns
from tests.jobs.api.test_views import ALL_PERMISSIONS, bearer_client, make_user, post_json

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_relay")]

BIG_BODY = "x" * 2_000_000


@sync_to_async
def api_client() -> Client:
    client = bearer_client(make_user("operator", *ALL_PERMISSIONS, "enqueue_email.send"))
    connection.close()  # back to the pool: a session left open would block the test database's teardown
    return client


@sync_to_async
def enqueue_big(api: Client) -> str:
    response = post_json(api, "/api/jobs", {"type": "email.send", "payload": {
        "to": ["someone@example.com"], "subject": "big", "body": BIG_BODY}})
    assert response.status_code == 202, response.content
    events.flush()
    connection.close()
    return response.json()["id"]


def get_and_close(api: Client, path: str) -> Any:
    response = api.get(path)
    connection.close()
    return response


async def test_a_two_megabyte_job_reaches_sockets_and_the_stream_as_a_preview(watcher: Any, settings) -> None:
    settings.JOB_EVENT_PREVIEW_BYTES = 300
    api = await api_client()
    ws = WebsocketCommunicator(URLRouter(websocket_urlpatterns), "/ws/queues/")
    ws.scope["user"] = watcher
    assert (await ws.connect())[0]
    assert (await ws.receive_json_from(timeout=5))["type"] == "queues.snapshot"

    job_id = await enqueue_big(api)
    while True:
        message = await ws.receive_output(timeout=5)
        if json.loads(message["text"])["type"] == "job.event":
            break
    text = message["text"]
    event = json.loads(text)
    assert event["event"] == "job:enqueued" and event["job"]["id"] == job_id
    assert len(text) < 3000, len(text)
    assert event["job"]["truncated"] == ["payload"]
    assert isinstance(event["job"]["payload"], str) and len(event["job"]["payload"].encode()) <= 300
    assert event["job"]["payload"].startswith('{"to":["someone@example.com"]')

    (_, fields), = redis_connection().xrevrange(STREAM, count=1)
    assert len(fields[b"m"]) < 3000
    whole = await sync_to_async(get_and_close)(api, f"/api/jobs/{job_id}")
    assert whole.json()["payload"]["body"] == BIG_BODY and "truncated" not in whole.json()
    await ws.disconnect()


async def test_stream_entries_older_than_the_max_age_are_trimmed(settings) -> None:
    settings.JOB_EVENT_STREAM_MAX_AGE = 60
    client = redis_connection()
    old_ms = int((time.time() - 120) * 1000)
    for n in range(150):  # two minutes old: a quiet stream keeps them, however short it is
        client.xadd(STREAM, {"j": "old", "s": "1", "m": "{}"}, id=f"{old_ms}-{n}")
    await enqueue_big(await api_client())
    assert client.xrange(STREAM, max=f"{int((time.time() - 60) * 1000)}") == []
    assert client.xlen(STREAM) >= 1
