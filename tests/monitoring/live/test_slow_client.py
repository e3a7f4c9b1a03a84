"""A dashboard socket that stops reading is closed (4429), not buffered for: against a real uvicorn server.

The client logs in, opens ws/queues/ on a socket with a tiny receive buffer
and reads nothing while thousands of events go to the feed. Once it reads
again it gets what was already on its way and then the close code; the page
reconnects to a fresh snapshot (monitoring/static/monitoring/dashboard.js).
"""
from __future__ import annotations

import socket
import time

import pytest
from django.test import Client
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from jobs.core.transport import redis_connection
from jobs.engine.enqueue import job_enqueue
from jobs.events import emit as events
from jobs.events.emit import emit, job_event
from jobs.events.stream import STREAM
from monitoring.live.outbox import CLOSE_TOO_SLOW
from tests.conftest import make_user, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def flood_the_feed() -> None:
    """10,000 events of about 1 KB (10 MB), once the relay has passed them all on and the client kept silent."""
    job = job_enqueue(type="email.send", payload={"to": ["a@example.com"], "subject": "s", "body": "b" * 400}).job
    for _ in range(20):
        emit([job_event("job:enqueued", job)] * 500)
    events.flush()
    client = redis_connection()
    last = client.xrevrange(STREAM, count=1)[0][0]
    wait_for(lambda: client.xinfo_groups(STREAM)[0]["last-delivered-id"] == last, timeout=20,
             message="the relay to pass every event on")
    time.sleep(2)  # the client stays silent while the server sends the feed its way


@pytest.fixture
def small_send_queue(monkeypatch):
    """The server's per-socket limit, set before it starts (at least a relay batch: 500 events)."""
    monkeypatch.setenv("WEBSOCKET_SEND_QUEUE_MAX", "600")


def test_a_client_that_stops_reading_is_closed_with_4429(small_send_queue, server):
    browser = Client()
    browser.force_login(make_user("slow"))  # a session in the database the server reads
    host, port = server.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    with connect(f"ws://{host}:{port}/ws/queues/", sock=sock, origin=server, max_size=None, compression=None,
                 additional_headers={"Cookie": f"sessionid={browser.cookies['sessionid'].value}"}) as ws:
        # No compression: identical events would deflate to a few bytes each and never fill a buffer.
        assert '"queues.snapshot"' in ws.recv(timeout=10)
        flood_the_feed()
        received = 0
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                try:
                    ws.recv(timeout=10)
                except TimeoutError:
                    raise AssertionError(f"not closed; {received} messages received") from None
                received += 1
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_TOO_SLOW, (closed.value, received)
    assert received < 10_000
