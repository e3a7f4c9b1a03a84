"""Per-caller request limits: a token bucket per (scope, user) in Redis, so every web process
counts against the same budget (settings.API_RATE_LIMITS; README, "Security").

Scopes follow cost: ``enqueue`` (POST /jobs), ``bulk`` (POST /jobs/bulk, up to 1,000 jobs a
call), ``act`` (cancel, retry, pause, resume) and ``read`` (everything else). The bucket is
refilled by Redis's own clock, so web processes with skewed clocks agree. If Redis does not
answer, requests pass: enqueueing writes PostgreSQL first, and refusing every call because
the limiter is down would be an outage of its own.
"""
from __future__ import annotations

import logging
import threading

import redis
from django.conf import settings
from django.http import HttpRequest
from ninja.throttling import BaseThrottle

from jobs.core.transport import eval_script

logger = logging.getLogger(__name__)

SCOPES = {"job_create": "enqueue", "job_create_bulk": "bulk", "job_cancel": "act", "job_retry": "act",
          "queue_pause": "act", "queue_resume": "act"}

#: KEYS[1] the bucket; ARGV: refill per second, burst. Returns {allowed, seconds to wait}.
TOKEN_BUCKET = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed, wait = 0, (1 - tokens) / rate
if tokens >= 1 then
  tokens, allowed, wait = tokens - 1, 1, 0
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return {allowed, tostring(wait)}
"""


def parse_limit(text: str) -> tuple[float, int]:
    """``"100/200"``: 100 requests a second, bursts of up to 200 (the format jobsite/settings.py checks)."""
    rate, _, burst = text.partition("/")
    return float(rate), int(burst)


class CallerThrottle(BaseThrottle):
    """Runs after authentication (ninja's order), so the bucket is the caller's, not an address's."""

    def __init__(self) -> None:
        self._last = threading.local()

    def allow_request(self, request: HttpRequest) -> bool:
        caller = getattr(request, "auth", None)
        if caller is None:
            return True
        # One path serves several operations (GET and POST /jobs): Django resolves the path once,
        # so reads are told apart by method.
        match = request.resolver_match
        scope = "read" if request.method in ("GET", "HEAD") else SCOPES.get(match.url_name if match else "", "act")
        rate, burst = parse_limit(settings.API_RATE_LIMITS[scope])
        try:
            allowed, wait = eval_script(TOKEN_BUCKET, [f"ratelimit:{scope}:{caller.user.pk}"], [rate, burst])
        except redis.RedisError as exc:
            logger.warning("event=rate_limit_unavailable error=%r", str(exc))
            return True
        self._last.wait = float(wait)
        return bool(allowed)

    def wait(self) -> float | None:
        return getattr(self._last, "wait", None)
