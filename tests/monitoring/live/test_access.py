"""A WebSocket keeps its access only while its user does (monitoring/live/access.py).

Through Channels' communicator on the full ASGI stack (session cookie,
Origin check) where the session matters, with the real Redis channel layer.
"""
from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission
from django.contrib.sessions.models import Session
from django.test import Client

from jobs.engine.enqueue import job_enqueue
from jobs.models import QueueJob
from jobsite.asgi import application as asgi_application
from tests.conftest import make_user
from tests.jobs.api.test_views import ALL_PERMISSIONS
from tests.jobs.core.test_access import CALLERS
from tests.monitoring.live.test_consumers import closed_with, connect, emit_for, enqueue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_relay")]


@sync_to_async
def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def socket_of(client: Client, path: str) -> WebsocketCommunicator:
    """A socket opened with ``client``'s session cookie, past the Origin check; its first message read."""
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    ws = WebsocketCommunicator(asgi_application, path, headers=[(b"origin", b"http://127.0.0.1"), (b"cookie", cookie)])
    assert (await ws.connect())[0]
    assert (await ws.receive_json_from(timeout=5))["type"] in ("job.snapshot", "queues.snapshot")
    return ws


async def still_open(ws: WebsocketCommunicator, job: QueueJob) -> None:
    """The socket still gets events (asserted by receiving the next one)."""
    await emit_for(job, "job:active", status="active", attempts=1)
    assert (await ws.receive_json_from(timeout=5))["type"] == "job.event"


async def test_a_user_who_loses_the_permission_is_closed_with_4403_at_the_next_recheck(
        watcher: Any, settings: Any) -> None:
    settings.WS_ACCESS_RECHECK_SECONDS = 0.2
    job = await enqueue()
    sockets = [await connect(f"/ws/jobs/{job.id}/", watcher), await connect("/ws/queues/", watcher)]
    for ws in sockets:
        await ws.receive_json_from(timeout=5)  # the snapshot
    # Taken away behind Django's back (no signal fires): only the periodic re-check can notice.
    through = type(watcher).user_permissions.through
    await sync_to_async(through.objects.filter(user_id=watcher.pk).delete)()
    for ws in sockets:
        message = await ws.receive_output(timeout=5)
        if message["type"] == "websocket.send":  # an event from before the re-check
            message = await ws.receive_output(timeout=5)
        assert message == {"type": "websocket.close", "code": 4403}
    await emit_for(job, "job:active", status="active", attempts=1)
    for ws in sockets:
        assert await ws.receive_nothing(timeout=0.3)  # and nothing more arrives


async def test_logout_closes_that_sessions_sockets_at_once_and_leaves_other_sessions_open(
        watcher: Any, settings: Any) -> None:
    settings.WS_ACCESS_RECHECK_SECONDS = 60  # not the periodic check: the logout itself
    job = await enqueue()
    leaving, staying = await logged_in(watcher), await logged_in(watcher)
    closing = [await socket_of(leaving, f"/ws/jobs/{job.id}/"), await socket_of(leaving, "/ws/queues/")]
    other = await socket_of(staying, f"/ws/jobs/{job.id}/")

    response = await sync_to_async(leaving.post)("/admin/logout/")
    assert response.status_code == 200
    for ws in closing:
        assert await closed_with(ws) == 4403
    await still_open(other, job)
    await other.disconnect()


async def test_an_ended_session_is_noticed_by_the_periodic_recheck(watcher: Any, settings: Any) -> None:
    settings.WS_ACCESS_RECHECK_SECONDS = 0.2
    job = await enqueue()
    client = await logged_in(watcher)
    ws = await socket_of(client, f"/ws/jobs/{job.id}/")
    await sync_to_async(Session.objects.all().delete)()  # expired and cleared, or deleted by an admin
    assert await closed_with(ws) == 4403


@pytest.mark.parametrize("change", ["not staff", "inactive", "permission removed", "password changed"])
async def test_a_change_to_the_user_closes_their_sockets_at_once(watcher: Any, settings: Any, change: str) -> None:
    settings.WS_ACCESS_RECHECK_SECONDS = 60
    job = await enqueue()
    client = await logged_in(watcher)
    ws = await socket_of(client, f"/ws/jobs/{job.id}/")
    bystander = await sync_to_async(make_user)("bystander")
    untouched = await socket_of(await logged_in(bystander), f"/ws/jobs/{job.id}/")

    @sync_to_async
    def apply() -> None:
        if change == "not staff":
            watcher.is_staff = False
            watcher.save()
        elif change == "inactive":
            watcher.is_active = False
            watcher.save()
        elif change == "permission removed":
            watcher.user_permissions.remove(Permission.objects.get(codename="view_queuejob"))
        else:
            watcher.set_password("a-new-one-7")
            watcher.save()

    await apply()
    assert await closed_with(ws) == 4403
    await still_open(untouched, job)
    await untouched.disconnect()


async def test_a_socket_that_keeps_its_access_stays_open_across_rechecks(watcher: Any, settings: Any) -> None:
    settings.WS_ACCESS_RECHECK_SECONDS = 0.05
    job = await enqueue()
    ws = await socket_of(await logged_in(watcher), f"/ws/jobs/{job.id}/")
    await asyncio.sleep(0.3)  # several re-checks pass
    await still_open(ws, job)
    await ws.disconnect()


# --- The matrix of sockets and callers (tests/jobs/core/test_access.py has the API's) ---


@sync_to_async
def _session_cookie(kind: str) -> list[tuple[bytes, bytes]]:
    headers = [(b"origin", b"http://127.0.0.1")]
    if kind == "anonymous":
        return headers
    user = {"not staff": lambda: make_user("outsider", perms=ALL_PERMISSIONS, staff=False),
            "staff without the permission": lambda: make_user("staffer", perms=ALL_PERMISSIONS[1:]),
            "staff with the permission": lambda: make_user("holder")}[kind]()
    client = Client()
    client.force_login(user)
    return [*headers, (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]


@pytest.mark.parametrize("socket", ["job", "queues"])
@pytest.mark.parametrize("kind", CALLERS)
async def test_socket(kind: str, socket: str) -> None:
    """Each socket refuses all but staff with the view permission (4403), at connect."""
    job = await sync_to_async(lambda: job_enqueue(type="demo.noop").job)()
    path = f"/ws/jobs/{job.id}/" if socket == "job" else "/ws/queues/"
    ws = WebsocketCommunicator(asgi_application, path, headers=await _session_cookie(kind))
    assert (await ws.connect())[0]
    message = await ws.receive_output(timeout=5)
    if kind == "staff with the permission":
        assert message["type"] == "websocket.send"
        assert ("job.snapshot" if socket == "job" else "queues.snapshot") in message["text"]
        await ws.disconnect()
    else:
        assert message == {"type": "websocket.close", "code": 4403}
