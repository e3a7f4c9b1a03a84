"""WebSocket phase: how fast a progress tick reaches a browser-like client, and how many a second get through.

Real pieces only: ``run_worker`` processes execute ``bench.ticks`` jobs, whose
handler calls ``ctx.progress()`` with the call's wall-clock time as the
message; uvicorn serves ``jobsite.asgi`` (relay, Channels pub/sub layer,
consumers); clients speak WebSocket (the ``websockets`` package) with a staff
session cookie, one socket per job (``ws/jobs/<id>/``) and one on the feed
(``ws/queues/``). Latency = receipt time − ``ctx.progress()`` time, both on
this machine's clock.

- latency: LATENCY_JOBS jobs × LATENCY_TICKS ticks (1,000 events) at 16/s each;
- load: LOAD_JOBS (50) jobs at once in one worker process (50 slots), 20
  ticks/s each (the rate the stream passes without thinning), events/s
  received over the busy span.

The worker is started once, with the queue paused, so every job and socket is
ready before the first tick; resuming the queue starts them all.
"""
from __future__ import annotations

import asyncio
import json
import math
import socket
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from devstack.waiting import wait_for
from jobs.core.registry import job_type
from jobs.execution.context import JobContext

QUEUE = "report"
LOAD_JOBS = 50
LATENCY_JOBS, LATENCY_TICKS, LATENCY_RATE = 5, 200, 16.0
LOAD_TICKS, LOAD_RATE = 200, 20.0
FINAL = {"completed", "failed", "cancelled"}


class TicksPayload(BaseModel):
    ticks: int = Field(100, ge=1, le=100_000)
    rate: float = Field(20.0, gt=0, le=1000)


@job_type("bench.ticks", payload=TicksPayload, queue=QUEUE, timeout=3600)
def ticks(ctx: JobContext) -> dict:
    """Reports progress ``ticks`` times, ``rate`` a second, each carrying the wall-clock time of its call."""
    payload: TicksPayload = ctx.payload  # type: ignore[assignment]
    for n in range(1, payload.ticks + 1):
        ctx.progress(100 * n // payload.ticks, stage="ticking", message=f"{time.time():.6f}")
        time.sleep(1 / payload.rate)  # at least this far apart: no tick is held back by the stream's thinning
    return {"ticks": payload.ticks}


@dataclass
class Received:
    latencies_ms: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    feed: int = 0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))]


async def _watch_job(url: str, headers: dict[str, str], origin: str, got: Received, ready: asyncio.Event) -> None:
    from websockets.asyncio.client import connect

    async with connect(url, origin=origin, additional_headers=headers, max_size=None) as ws:  # type: ignore[arg-type]
        async for raw in ws:
            now = time.time()
            message = json.loads(raw)
            if message["type"] == "job.snapshot":
                ready.set()
            elif message["event"] == "job:progress":
                got.latencies_ms.append((now - float(message["job"]["progress"]["message"])) * 1000)
                got.times.append(now)
            if message["job"]["status"] in FINAL:
                return


async def _watch_feed(url: str, headers: dict[str, str], origin: str, got: Received, stop: asyncio.Event) -> None:
    from websockets.asyncio.client import connect

    async with connect(url, origin=origin, additional_headers=headers, max_size=None) as ws:  # type: ignore[arg-type]
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=0.2)
            except asyncio.TimeoutError:
                continue
            if json.loads(raw).get("event") == "job:progress":
                got.feed += 1


async def _follow(base: str, cookie: str, job_ids: list[str], start: Any, timeout: float) -> Received:
    origin = base.replace("ws://", "http://")
    headers = {"Cookie": cookie}
    got = Received()
    readies = [asyncio.Event() for _ in job_ids]
    stop = asyncio.Event()
    feed = asyncio.create_task(_watch_feed(f"{base}/ws/queues/", headers, origin, got, stop))
    watchers = [asyncio.create_task(_watch_job(f"{base}/ws/jobs/{job_id}/", headers, origin, got, ready))
                for job_id, ready in zip(job_ids, readies)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), timeout=30)
    await asyncio.to_thread(start)
    try:
        await asyncio.wait_for(asyncio.gather(*watchers), timeout=timeout)
    finally:
        await asyncio.sleep(0.5)  # let the feed catch up
        stop.set()
        await feed
    return got


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _session_cookie() -> str:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.test import Client

    user = get_user_model().objects.create_user("bench-ws", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_queuejob", content_type__app_label="jobs"))
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def run(bench: Any, *, quick: bool = False) -> None:
    """Measure and add the rows to ``bench`` (bench.measure.Bench)."""
    from bench.measure import Row, _port_open
    from jobs.engine.enqueue import job_enqueue_many
    from jobs.engine.queues import queue_pause, queue_resume

    load_jobs = 10 if quick else LOAD_JOBS
    latency_jobs, latency_ticks = (2, 50) if quick else (LATENCY_JOBS, LATENCY_TICKS)
    load_ticks = 40 if quick else LOAD_TICKS
    print(f"websocket: progress latency ({latency_jobs} jobs x {latency_ticks} ticks at {LATENCY_RATE:g}/s), "
          f"then {load_jobs} concurrent jobs at {LOAD_RATE:g} ticks/s, through uvicorn", flush=True)
    bench.reset()
    children = bench.children
    env = bench.stack.env
    port = _free_port()
    server = children.start("uvicorn-ws", [sys.executable, "-m", "uvicorn", "jobsite.asgi:application",
                                           "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
                                           "--log-level", "warning"], env)
    queue_pause(name=QUEUE)
    # One worker process whose slots run all the jobs at once.
    workers = [children.start("worker-ws", [sys.executable, "-m", "bench.wsworker", QUEUE, "--concurrency",
                                            str(load_jobs)], env)]
    try:
        wait_for(lambda: all(not children.check_alive(w) and "listening on" in w.log_path.read_text()
                             for w in workers), 180, message="the workers to start")
        wait_for(lambda: children.check_alive(server) or _port_open(port), 60, message="uvicorn to listen")
        children.check_alive(server)
        cookie = _session_cookie()
        base = f"ws://127.0.0.1:{port}"

        def phase(jobs: int, ticks_each: int, rate: float) -> Received:
            queue_pause(name=QUEUE)
            created = job_enqueue_many([{"type": "bench.ticks", "payload": {"ticks": ticks_each, "rate": rate}}]
                                       * jobs)
            return asyncio.run(_follow(base, cookie, [str(j.id) for j in created],
                                       lambda: queue_resume(name=QUEUE), timeout=ticks_each / rate * 3 + 60))

        latency = phase(latency_jobs, latency_ticks, LATENCY_RATE)
        load = phase(load_jobs, load_ticks, LOAD_RATE)
    finally:
        for proc in [*workers, server]:
            children.stop(proc)
    expected = latency_jobs * latency_ticks
    for p in (50, 95):
        bench._add(Row(f"progress → WebSocket latency p{p}", "ms", percentile(latency.latencies_ms, p), None,
                       "lower"))
    bench._add(Row("progress → WebSocket latency max", "ms", max(latency.latencies_ms), None, "lower"))
    span = max(load.times) - min(load.times)
    rate = (len(load.times) - 1) / span if span > 0 else float("nan")
    bench._add(Row(f"WebSocket events/s, {load_jobs} concurrent jobs in 1 process", "events/s", rate, None, "higher"))
    bench._add(Row(f"progress → WebSocket latency p95, {load_jobs} concurrent jobs in 1 process", "ms",
                   percentile(load.latencies_ms, 95), 50.0, "lower", raw_label="target"))
    bench.details.append(
        f"websocket latency: {len(latency.latencies_ms)} of {expected} progress events received "
        f"(p50 {statistics.median(latency.latencies_ms):.1f} ms); under load ({load_jobs} jobs x {LOAD_RATE:g}/s): "
        f"{len(load.times)} of {load_jobs * load_ticks} received on per-job sockets, p50 "
        f"{percentile(load.latencies_ms, 50):.1f} ms, p95 {percentile(load.latencies_ms, 95):.1f} ms, "
        f"max {max(load.latencies_ms):.1f} ms; the ws/queues/ feed got {load.feed} progress events"
    )
