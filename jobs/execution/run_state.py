"""One run in flight in a worker slot: what the slot, the watchdog and the lease keeper share."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from jobs.engine.attempts import Claim


@dataclass(eq=False)
class Run:
    claim: Claim
    #: When (time.monotonic()) the handler started, and when its time limit passes.
    started: float = field(default_factory=time.monotonic)
    deadline: float = 0.0
    #: The slot thread running it (for exceptions raised into it); None on the event loop.
    thread_id: int | None = None
    #: The asyncio task running it, for ``async def`` handlers.
    task: object = None
    #: The exception asked for from outside (JobTimeout, WorkerShutdown, LeaseLost), and when.
    stopping: type[BaseException] | None = None
    stopping_since: float = 0.0
    #: Set once the run was given up on (stuck in C past its grace): the slot's thread may still return.
    written_off: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def queue(self) -> str:
        return self.claim.queue

    @property
    def attempt_id(self) -> int:
        return self.claim.attempt_id
