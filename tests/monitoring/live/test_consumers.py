"""WebSocket consumers through Channels' WebsocketCommunicator, with the real Redis relay and layer."""
from __future__ import annotations

import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.test import Client

from jobs.engine.enqueue import job_enqueue
from jobs.events import emit as events
from jobs.events.emit import emit, job_event
from jobs.models import QueueJob
from jobsite.asgi import application as asgi_application
from monitoring.live.relay import job_group
from monitoring.live.routing import websocket_urlpatterns
from tests.conftest import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_relay")]

router = URLRouter(websocket_urlpatterns)


async def connect(path: str, user: Any) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(router, path)
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def closed_with(communicator: WebsocketCommunicator) -> int:
    message = await communicator.receive_output(timeout=5)
    assert message["type"] == "websocket.close", message
    return message["code"]


@sync_to_async
def enqueue(**request: Any) -> QueueJob:
    job = job_enqueue(type="demo.sleep", payload={"seconds": 0.1, "steps": 2}, **request).job
    events.flush()  # its job:enqueued is out before the test goes on
    return job


@sync_to_async
def emit_for(job: QueueJob, name: str, **changes: Any) -> None:
    emit([job_event(name, job, **changes)])
    events.flush()


async def test_job_socket_sends_the_snapshot_then_every_event_in_order(watcher: Any) -> None:
    job = await enqueue(correlation_id="order-1")
    ws = await connect(f"/ws/jobs/{job.id}/", watcher)
    snapshot = await ws.receive_json_from(timeout=5)
    assert snapshot["type"] == "job.snapshot"
    assert snapshot["job"]["id"] == str(job.id) and snapshot["job"]["status"] == "pending"
    assert snapshot["job"]["correlation_id"] == "order-1"
    assert set(snapshot["job"]) >= {"id", "type", "queue", "status", "progress", "result", "error", "attempts",
                                    "max_attempts", "created_at", "started_at", "finished_at", "run_at"}

    await emit_for(job, "job:active", status="active", attempts=1)
    for step in range(1, 6):  # a new stage each time: none of them may be thinned out
        await emit_for(job, "job:progress", status="active", attempts=1,
                       progress={"percent": step * 20, "stage": f"stage {step}", "message": f"m{step}"})
    await emit_for(job, "job:completed", status="completed", attempts=1, result={"ok": True},
                   progress={"percent": 100, "stage": "stage 5", "message": "m5"})

    received = [await ws.receive_json_from(timeout=5) for _ in range(7)]
    assert [m["event"] for m in received] == ["job:active"] + ["job:progress"] * 5 + ["job:completed"]
    assert all(m["type"] == "job.event" and m["job"]["id"] == str(job.id) for m in received)
    assert [m["job"]["progress"]["stage"] for m in received[1:6]] == [f"stage {n}" for n in range(1, 6)]
    seqs = [m["seq"] for m in received]
    assert seqs == sorted(seqs) and len(set(seqs)) == 7 and seqs[0] > snapshot["seq"]
    assert received[-1]["job"]["result"] == {"ok": True} and received[-1]["at"]
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()


async def test_reconnecting_client_gets_a_fresh_snapshot_and_stale_events_are_dropped(watcher: Any) -> None:
    job = await enqueue()
    await emit_for(job, "job:active", status="active", attempts=1)
    await sync_to_async(QueueJob.objects.filter(pk=job.pk).update)(status="active", attempts=1)

    ws = await connect(f"/ws/jobs/{job.id}/", watcher)
    snapshot = await ws.receive_json_from(timeout=5)
    assert snapshot["job"]["status"] == "active" and snapshot["seq"] > 0  # numbered after the event before it

    # A copy of an event the snapshot already covers (say, relayed late) is not passed on.
    stale = '{"type":"job.event","event":"job:enqueued"}'
    await get_channel_layer().group_send(job_group(job.id), {"type": "job.events",
                                                               "events": [(snapshot["seq"], stale)]})
    assert await ws.receive_nothing(timeout=0.3)
    await emit_for(job, "job:completed", status="completed", attempts=1)
    assert (await ws.receive_json_from(timeout=5))["event"] == "job:completed"
    await ws.disconnect()


async def test_anonymous_and_users_without_staff_or_permission_are_closed_with_4403(transactional_db: None) -> None:
    job = await enqueue()
    staff_without_permission = await sync_to_async(make_user)("staff-only", perms=())
    permission_but_not_staff = await sync_to_async(make_user)("not-staff", staff=False)
    for user in (AnonymousUser(), staff_without_permission, permission_but_not_staff):
        for path in (f"/ws/jobs/{job.id}/", "/ws/queues/"):
            ws = await connect(path, user)
            assert await closed_with(ws) == 4403, (user, path)


async def test_unknown_or_malformed_job_id_is_closed_with_4404(watcher: Any) -> None:
    for job_id in (uuid.uuid4(), "not-a-uuid", "bad~id!", "x" * 300):
        ws = await connect(f"/ws/jobs/{job_id}/", watcher)
        assert await closed_with(ws) == 4404


async def test_queues_socket_sends_counts_then_job_events_and_count_changes(watcher: Any) -> None:
    await enqueue()
    ws = await connect("/ws/queues/", watcher)
    snapshot = await ws.receive_json_from(timeout=5)
    assert snapshot["type"] == "queues.snapshot"
    default = next(q for q in snapshot["queues"] if q["name"] == "default")
    assert default["counts"]["pending"] == 1 and default["paused"] is False
    assert {q["name"] for q in snapshot["queues"]} >= {"default", "ai", "email", "notification"}

    job = await enqueue()  # emits job:enqueued after commit
    messages = [await ws.receive_json_from(timeout=5) for _ in range(2)]
    by_type = {m["type"]: m for m in messages}
    assert by_type["job.event"]["event"] == "job:enqueued" and by_type["job.event"]["job"]["id"] == str(job.id)
    counts = next(q for q in by_type["queues.counts"]["queues"] if q["name"] == "default")["counts"]
    assert counts["pending"] == 2
    await ws.disconnect()


async def test_full_asgi_stack_authenticates_by_session_and_checks_the_origin(watcher: Any) -> None:
    job = await enqueue()
    client = Client()
    await sync_to_async(client.force_login)(watcher)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    ws = WebsocketCommunicator(asgi_application, f"/ws/jobs/{job.id}/",
                               headers=[(b"origin", b"http://127.0.0.1"), (b"cookie", cookie)])
    assert (await ws.connect())[0]
    assert (await ws.receive_json_from(timeout=5))["type"] == "job.snapshot"
    await ws.disconnect()

    foreign = WebsocketCommunicator(asgi_application, f"/ws/jobs/{job.id}/",
                                    headers=[(b"origin", b"https://evil.example"), (b"cookie", cookie)])
    connected, _ = await foreign.connect()
    assert not connected  # refused at the handshake

    anonymous = WebsocketCommunicator(asgi_application, f"/ws/jobs/{job.id}/",
                                      headers=[(b"origin", b"http://127.0.0.1")])
    assert (await anonymous.connect())[0]
    assert await closed_with(anonymous) == 4403
