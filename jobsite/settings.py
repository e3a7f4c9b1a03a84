"""Settings, read once from the environment.

Every knob a deployment turns is an environment variable (see README's
configuration table); everything else is fixed here. Invalid values stop the
process at start with a message naming the variable (jobsite.env).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from jobsite.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "monitoring.admin_apps.JobsAdminConfig",  # django.contrib.admin with the queue dashboard listed
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_rq",
    "ninja",  # serves Swagger UI's files itself (no CDN) at /api/docs
    "jobs",
    "monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's static files from the ASGI process itself (no separate web server needed).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "jobsite.urls"
WSGI_APPLICATION = "jobsite.wsgi.application"
ASGI_APPLICATION = "jobsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

_database_url = env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/jobqueue")
try:
    # Pooled (psycopg_pool), not persistent: under ASGI every request runs in a
    # thread of its own, so Django's persistent connections would never be reused.
    # CONN_HEALTH_CHECKS makes the pool check each connection on checkout, so one
    # broken by a server restart is replaced, not handed out.
    _database = dj_database_url.parse(_database_url, conn_max_age=0, conn_health_checks=True)
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
if _database["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://...)")
_database.setdefault("OPTIONS", {})["pool"] = {
    "min_size": 1,
    "max_size": env_int("DB_POOL_MAX_SIZE", 10, minimum=1),
    #: How long a thread waits for a pooled connection before its query fails (retried where it matters).
    "timeout": env_float("DB_POOL_TIMEOUT", 10.0, minimum=0.1),
}
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured("REDIS_URL must start with redis://, rediss:// or unix://")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
#: Where `collectstatic` gathers files for production; unset, WhiteNoise serves
#: straight from the apps' static folders (development, tests).
STATIC_ROOT = env_str("STATIC_ROOT", "") or None
WHITENOISE_USE_FINDERS = STATIC_ROOT is None

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "jobs@localhost")

# --- Job engine -------------------------------------------------------------

#: Default handler time limit in seconds; a job type or an enqueue may set its own.
JOB_TIMEOUT = env_float("JOB_TIMEOUT", 10.0, minimum=0.001)
#: When set, overrides every queue's attempt count (job types and enqueues may still set theirs).
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", None, minimum=1)
#: Seconds a handler past its time limit (or a shutdown's grace) may take to stop before its run is
#: written off: closed (timeout, retried; or interrupted), its slot given up (jobs.execution.time_limits).
JOB_TIMEOUT_GRACE = env_float("JOB_TIMEOUT_GRACE", 1.0, minimum=0.01)
#: Seconds a worker waits on SIGTERM for its running jobs before putting them back.
WORKER_SHUTDOWN_TIMEOUT = env_float("WORKER_SHUTDOWN_TIMEOUT", 30.0, minimum=0)
#: A running attempt's lease; workers renew it every third of this. When a worker
#: dies (SIGKILL, lost machine) its job is recovered once the lease has run out.
JOB_LEASE_SECONDS = env_float("JOB_LEASE_SECONDS", 30.0, minimum=1)
#: A pending job handed to Redis this long ago but not found there (Redis flushed or
#: restarted without persistence) is handed over again by the reconciler.
JOB_RECONCILE_AFTER = env_float("JOB_RECONCILE_AFTER", 30.0, minimum=0.1)
#: Events (WebSocket messages, the Redis stream, webhook bodies) carry a job's payload and result cut to
#: this many bytes of their JSON (marked in "truncated"); GET /api/jobs/{id} has them whole.
JOB_EVENT_PREVIEW_BYTES = env_int("JOB_EVENT_PREVIEW_BYTES", 512, minimum=0)
#: Entries of the Redis event stream older than this many seconds are trimmed (besides its length cap).
JOB_EVENT_STREAM_MAX_AGE = env_float("JOB_EVENT_STREAM_MAX_AGE", 300.0, minimum=1)
#: Upper bound for any backoff delay, and the jitter fraction applied to it.
JOB_BACKOFF_CAP = env_float("JOB_BACKOFF_CAP", 3600.0, minimum=0.001)
JOB_BACKOFF_JITTER = env_float("JOB_BACKOFF_JITTER", 0.1, minimum=0)
#: How often the scheduler looks for due jobs; keeps a retry within 1 s of its due time.
SCHEDULER_INTERVAL = env_float("SCHEDULER_INTERVAL", 0.2, minimum=0.01)
#: /healthz reports the scheduler unhealthy when its leader has not beaten for this long.
SCHEDULER_MAX_LAG = env_float("SCHEDULER_MAX_LAG", 30.0, minimum=1)
#: Register the demo/test job types (demo.sleep, demo.fail, demo.flaky, demo.noop).
JOBS_DEMO_TYPES = env_bool("JOBS_DEMO_TYPES", DEBUG)
#: Modules whose import registers job types.
JOB_TYPE_MODULES = [
    "jobs.jobtypes.ai",
    "jobs.jobtypes.email",
    "jobs.jobtypes.indexing",
    "jobs.jobtypes.maintenance",
    "jobs.jobtypes.notification",
] + (["jobs.jobtypes.demo"] if JOBS_DEMO_TYPES else [])

#: Per-queue policy (README, "Configuration"). Backoff: ("sequence", [s, ...]),
#: ("exponential", base_s) or ("fixed", s). Keep: (max count, max age in s or None).
JOB_QUEUES: dict[str, dict] = {
    "default": {"attempts": 3, "backoff": ("sequence", [1, 5, 30]), "concurrency": 4,
                "keep_completed": (100, None), "keep_failed": (50, None)},
    "ai": {"attempts": 5, "backoff": ("exponential", 2), "concurrency": 5,
           "keep_completed": (1000, 24 * 3600), "keep_failed": (5000, 7 * 86400)},
    "email": {"attempts": 3, "backoff": ("exponential", 1), "priority": 2, "concurrency": 10,
              "keep_completed": (500, 12 * 3600), "keep_failed": (1000, 3 * 86400)},
    "indexing": {"attempts": 3, "backoff": ("fixed", 5), "priority": 5, "concurrency": 20,
                 "keep_completed": (2000, 6 * 3600), "keep_failed": (5000, 86400)},
    "cleanup": {"attempts": 3, "backoff": ("exponential", 1), "concurrency": 1},
    "maintenance": {"attempts": 3, "backoff": ("exponential", 1), "concurrency": 1},
    "notification": {"attempts": 5, "backoff": ("exponential", 1), "concurrency": 5},
    "report": {"attempts": 3, "backoff": ("exponential", 1), "concurrency": 2},
}



def _queue_limits(raw: str, name: str, parse: object) -> dict[str, object]:
    """``queue=value`` pairs, comma-separated (the environment's way to set per-queue limits)."""
    limits: dict[str, object] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        queue, _, value = (text.strip() for text in item.partition("="))
        if queue not in JOB_QUEUES or not value:
            raise ImproperlyConfigured(f"{name}: {item!r} is not <queue>=<value>; queues: {', '.join(JOB_QUEUES)}")
        try:
            limits[queue] = parse(value)  # type: ignore[operator]
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {item!r} has an invalid value") from None
    return limits


#: Limits across all workers, per queue: JOB_GLOBAL_CONCURRENCY="ai=10" (at most 10 of the queue's jobs
#: run at once) and JOB_RATE_LIMITS="email=100/60" (at most 100 starts per 60 s). Jobs over a limit wait
#: (neither failed nor charged an attempt).
for _queue, _limit in _queue_limits(env_str("JOB_GLOBAL_CONCURRENCY", ""), "JOB_GLOBAL_CONCURRENCY", int).items():
    JOB_QUEUES[_queue]["global_concurrency"] = _limit
for _queue, _limit in _queue_limits(env_str("JOB_RATE_LIMITS", ""), "JOB_RATE_LIMITS",
                                    lambda v: tuple(float(x) for x in v.split("/", 1))).items():
    JOB_QUEUES[_queue]["rate_limit"] = _limit

#: django-rq needs a connection per RQ queue; RQ queue names are derived from
#: JOB_QUEUES by jobs.engine.dispatch (one RQ list per queue and priority band).
RQ_QUEUES = {
    f"{name}{suffix}": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 3600}
    for name in JOB_QUEUES
    for suffix in (":high", "", ":low")
}

# --- Live events: WebSockets (Channels) and webhooks ------------------------

#: What jobs.events.emit hands every lifecycle event and progress tick to, in order
#: (the stream sink first: it stamps the sequence number the others carry).
JOB_EVENT_SINKS = ["jobs.events.stream.stream_sink", "jobs.events.log.log_sink", "jobs.engine.deliveries.webhook_sink"]
#: channels-redis' pub/sub layer: measured here at ~0.2 ms and ~6,000 group messages/s
#: against ~1-2.7 ms and ~600/s for its core (list-based) layer. Redis pub/sub ignores
#: db numbers, so the prefix is made from REDIS_URL to keep deployments sharing a server apart.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "asgi" + hashlib.sha256(REDIS_URL.encode()).hexdigest()[:8]},
    },
}
#: Messages a dashboard WebSocket may fall behind before it is closed (code 4429; the page reconnects to a
#: fresh snapshot): a client that stops reading costs the web process at most this much.
WEBSOCKET_SEND_QUEUE_MAX = env_int("WEBSOCKET_SEND_QUEUE_MAX", 1000, minimum=1)
#: Key of the X-Signature HMAC on webhook deliveries (empty: deliveries go out unsigned).
WEBHOOK_SECRET = env_str("WEBHOOK_SECRET", "")
#: Seconds a webhook receiver has to answer before the delivery counts as failed (and is retried).
WEBHOOK_TIMEOUT = env_float("WEBHOOK_TIMEOUT", 5.0, minimum=0.1)
_LIFECYCLE_EVENTS = ("job:enqueued", "job:active", "job:retrying", "job:completed", "job:failed", "job:cancelled")


def _webhook_urls(raw: str) -> dict[str, list[str]]:
    """WEBHOOK_URLS: comma-separated ``event=url`` pairs, ``*=url`` for every lifecycle event."""
    urls: dict[str, list[str]] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        event, _, url = (text.strip() for text in item.partition("="))
        if (event != "*" and event not in _LIFECYCLE_EVENTS) or not url.startswith(("http://", "https://")):
            raise ImproperlyConfigured(f"WEBHOOK_URLS: {item!r} is not <event>=<http(s) URL>; "
                                       f"events: *, {', '.join(_LIFECYCLE_EVENTS)}")
        for name in _LIFECYCLE_EVENTS if event == "*" else (event,):
            urls.setdefault(name, []).append(url)
    return urls


#: Global webhook receivers per event, e.g. "job:failed=https://a/b,job:completed=https://c/d".
WEBHOOK_URLS = _webhook_urls(env_str("WEBHOOK_URLS", ""))

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "kv": {"format": "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "kv"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "jobs": {"level": LOG_LEVEL},
        "monitoring": {"level": LOG_LEVEL},
        "rq.worker": {"level": "WARNING"},
    },
}
