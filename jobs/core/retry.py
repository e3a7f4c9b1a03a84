"""Retry policy: how many attempts, and how long to wait between them.

Resolved once per job at enqueue (job type, then queue, then settings) and
snapshotted on the row, so changing a queue's policy never changes the fate
of jobs already in flight.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Literal

BackoffKind = Literal["sequence", "exponential", "fixed"]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    backoff: BackoffKind = "sequence"
    #: sequence: the delays in order (the last one repeats); exponential: the
    #: first delay, doubled each attempt; fixed: the one delay.
    delays: tuple[float, ...] = (1.0, 5.0, 30.0)
    cap: float = 3600.0
    #: Fraction of the delay added or removed at random, so that jobs failing
    #: together (a dependency went down) do not all come back together.
    jitter: float = 0.1
    retryable: bool = field(default=True)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff not in ("sequence", "exponential", "fixed"):
            raise ValueError(f"unknown backoff kind {self.backoff!r}")
        if not self.delays or any(d < 0 for d in self.delays):
            raise ValueError("delays must be non-empty and non-negative")
        if self.backoff != "sequence" and len(self.delays) != 1:
            raise ValueError(f"{self.backoff} backoff takes exactly one delay")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        if self.cap <= 0:
            raise ValueError("cap must be positive")

    def base_delay(self, attempt: int) -> float:
        """Delay before attempt ``attempt + 1``, after ``attempt`` failed (1-based), without jitter."""
        if attempt < 1:
            raise ValueError("attempt is 1-based")
        if self.backoff == "sequence":
            delay = self.delays[min(attempt, len(self.delays)) - 1]
        elif self.backoff == "exponential":
            delay = self.delays[0] * 2 ** min(attempt - 1, 62)
        else:
            delay = self.delays[0]
        return min(delay, self.cap)

    def next_delay(self, attempt: int, rng: random.Random | None = None) -> float:
        delay = self.base_delay(attempt)
        if self.jitter:
            delay *= 1 + (rng or random).uniform(-self.jitter, self.jitter)
        return min(max(delay, 0.0), self.cap)

    def to_json(self) -> dict:
        data = asdict(self)
        data["delays"] = list(self.delays)
        return data

    @classmethod
    def from_json(cls, data: dict) -> RetryPolicy:
        return cls(**{**data, "delays": tuple(data["delays"])})

    @classmethod
    def from_backoff_spec(cls, *, max_attempts: int, spec: tuple, cap: float, jitter: float) -> RetryPolicy:
        """Build from the settings' ``("sequence", [1, 5, 30])`` / ``("exponential", 2)`` form."""
        kind, value = spec
        delays = tuple(float(v) for v in value) if kind == "sequence" else (float(value),)
        return cls(max_attempts=max_attempts, backoff=kind, delays=delays, cap=cap, jitter=jitter)
