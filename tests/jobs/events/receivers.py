"""Loopback webhook receivers for the webhook tests: one that records, one that drips its answer."""
from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from jobs.events.webhooks import WEBHOOK_JOB_TYPE
from jobs.models import QueueJob

#: How far a receiver lets X-Webhook-Timestamp stray from its clock (the replay window).
TOLERANCE = 300


def verify(headers: Mapping[str, str], body: bytes, secret: str, *, now: float | None = None) -> bool:
    """What a receiver does with a delivery: the signature covers the timestamp and the body, and a
    timestamp outside the window is a replay (a receiver also keeps X-Delivery ids of the window)."""
    timestamp = headers.get("x-webhook-timestamp", "")
    if not timestamp.isdigit() or abs((now or time.time()) - int(timestamp)) > TOLERANCE:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("x-signature", ""), expected)


class Receiver:
    """An HTTP server on ``host`` that records every POST and answers ``status`` (and ``location``)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.status = 200
        self.location = ""
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = self.server.server_port
        self.url = f"http://{host}:{self.port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Dripper:
    """A receiver that reads the request, then answers one byte every ``every`` seconds, never a whole line."""

    def __init__(self, every: float = 0.1) -> None:
        self.every = every
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        self.stopped = threading.Event()
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.listener.settimeout(0.1)
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            try:
                while not self.stopped.wait(self.every):
                    conn.sendall(b"H")
            except OSError:
                pass  # the delivery gave up and closed

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()


def deliveries() -> list[QueueJob]:
    """The webhook delivery jobs written so far, oldest first."""
    return list(QueueJob.objects.filter(type=WEBHOOK_JOB_TYPE).order_by("created_at"))
