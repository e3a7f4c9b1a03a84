"""Request bodies over DATA_UPLOAD_MAX_MEMORY_SIZE are refused before being read (issue 11, finding 17).

Through the project's ASGI application (jobsite.asgi) in-process, where the
test can count what was read, and through uvicorn on a socket, as a client
would send it.
"""
from __future__ import annotations

import asyncio
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from jobsite.asgi import application

LIMIT = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
CHUNK = 1024 * 1024


class Client:
    """One HTTP request to the ASGI app; records the messages sent and how many body chunks were read."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks, self.read, self.sent = chunks, 0, []

    async def receive(self) -> dict[str, Any]:
        if self.read < len(self.chunks):
            self.read += 1
            return {"type": "http.request", "body": self.chunks[self.read - 1],
                    "more_body": self.read < len(self.chunks)}
        await asyncio.sleep(3600)  # the client waits for the answer (Django listens for a disconnect meanwhile)
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    async def post(self, path: str, headers: list[tuple[bytes, bytes]]) -> int:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
                 "root_path": "", "headers": [(b"host", b"127.0.0.1"), *headers],
                 "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
        await asyncio.wait_for(application(scope, self.receive, self.send), timeout=20)
        return self.sent[0]["status"]


async def test_a_declared_length_over_the_limit_is_refused_without_reading_the_body() -> None:
    client = Client([b"x" * CHUNK] * 10)
    status = await client.post("/api/jobs", [(b"content-type", b"application/json"),
                                             (b"content-length", str(10 * CHUNK).encode())])
    assert status == 413 and client.read == 0
    assert b"larger than 2,621,440 bytes" in client.sent[1]["body"]


async def test_a_chunked_body_is_cut_off_once_it_passes_the_limit() -> None:
    client = Client([b"x" * CHUNK] * 20)  # no Content-Length: chunked transfer encoding
    status = await client.post("/api/jobs", [(b"content-type", b"application/json")])
    assert status == 413
    assert client.read == LIMIT // CHUNK + 1  # the chunk that crossed the limit is the last one read


@pytest.mark.django_db(transaction=True)
async def test_a_body_within_the_limit_reaches_django() -> None:
    body = b'{"type": "demo.noop", "payload": {"pad": "' + b"x" * (LIMIT - 100) + b'"}}'
    client = Client([body[:CHUNK], body[CHUNK:]])
    status = await client.post("/api/jobs", [(b"content-type", b"application/json"),
                                             (b"content-length", str(len(body)).encode())])
    assert status == 401 and client.read == 2  # read whole, then refused for want of credentials


@pytest.mark.django_db(transaction=True)
def test_uvicorn_answers_413_to_an_oversized_post_before_its_body_is_sent(server: str) -> None:
    url = urlsplit(server)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000000000\r\n\r\n")  # 1 GB announced; not one byte of it sent
        answer = sock.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 413 "), answer
