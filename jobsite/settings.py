"""Settings, read once from the environment.

Every knob a deployment turns is an environment variable (see README's
configuration table); everything else is fixed here. Invalid values stop the
process at start with a message naming the variable (jobsite.env).
"""
from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from jobsite.env import env_bool, env_float, env_int, env_list, env_str, load_run_env

BASE_DIR = Path(__file__).resolve().parent.parent
load_run_env(BASE_DIR / "var" / "run.env")
#: A one-shot management command (manage.py marks them; servers and workers are not): it gives up on an
#: unreachable PostgreSQL after 3 s, not 10, and prints warnings only (README, "Management commands").
CLI = os.environ.get("JOBS_PROCESS") == "cli"

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    # Random, never a key written in the repository (anyone could sign sessions with that one): a
    # process's sessions end with it. `make run` keeps one in var/ for all its processes (devstack.run).
    SECRET_KEY = secrets.token_urlsafe(50)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- HTTPS (README, "Security"; .env.example turns all of it on) -------------

#: Served over HTTPS only: http:// redirects to https://, session and CSRF cookies are Secure, and
#: browsers are told (HSTS) to use nothing else. Off by default, so that `make run` and the tests work
#: on http://127.0.0.1.
HTTPS_ONLY = env_bool("HTTPS_ONLY", False)
SECURE_SSL_REDIRECT = SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS_ONLY
#: Load balancers and container probes ask for /healthz over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
#: How long browsers keep to HTTPS alone, in seconds (0: no Strict-Transport-Security header).
SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 365 * 86400 if HTTPS_ONLY else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HSTS_INCLUDE_SUBDOMAINS", HTTPS_ONLY)
#: Lets the domain be submitted to the browsers' built-in HTTPS-only lists (hard to undo).
SECURE_HSTS_PRELOAD = env_bool("HSTS_PRELOAD", False)
#: The header a TLS-terminating proxy in front sets to "https" (e.g. X-Forwarded-Proto); empty: none is
#: trusted. Only when every request passes that proxy, and it overwrites the header a client sent.
_proxy_ssl_header = env_str("PROXY_SSL_HEADER", "").strip()
if _proxy_ssl_header and not re.fullmatch(r"[A-Za-z0-9-]+", _proxy_ssl_header):
    raise ImproperlyConfigured(f"PROXY_SSL_HEADER={_proxy_ssl_header!r} is not a header name (e.g. X-Forwarded-Proto)")
SECURE_PROXY_SSL_HEADER = (("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https") if _proxy_ssl_header
                           else None)

INSTALLED_APPS = [
    "monitoring.admin_apps.JobsAdminConfig",  # django.contrib.admin with the queue dashboard listed
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_rq",  # its own admin page is off (RQ_SHOW_ADMIN_LINK): /admin/queues/ is the dashboard
    "ninja",  # serves Swagger UI's files itself (no CDN) at /api/docs
    "axes",  # login attempt limits (see "Limits" below)
    "django_tasks",  # Django's Tasks API (the backport of django.tasks); our backend: jobs/tasks/
    "jobs",
    "monitoring",
]

MIDDLEWARE = [
    "jobsite.tracing.TracingMiddleware",  # off unless OTEL_* asks for traces (jobs/core/tracing.py)
    "jobsite.correlation.CorrelationIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's static files from the ASGI process itself (no separate web server needed).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # answers a locked-out login with 429
    "jobsite.db_timeout.StatementTimeoutMiddleware",
    "jobsite.api_405.ApiMethodNotAllowed",
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
    "timeout": env_float("DB_POOL_TIMEOUT", 3.0 if CLI else 10.0, minimum=0.1),
}
#: Web processes (jobsite/asgi.py marks them) cancel any statement running longer than this, so a
#: costly request cannot hold the pool's connections: the caller gets 503 (jobsite/db_timeout.py).
#: Workers and maintenance (VACUUM, retention) are not limited. 0 turns it off.
WEB_STATEMENT_TIMEOUT = env_float("WEB_STATEMENT_TIMEOUT", 5.0, minimum=0)
if os.environ.get("JOBS_PROCESS") == "web" and WEB_STATEMENT_TIMEOUT:
    _database["OPTIONS"]["options"] = f"-c statement_timeout={int(WEB_STATEMENT_TIMEOUT * 1000)}"
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

#: Largest request body, in bytes (Django's default, 2.5 MB: a bulk enqueue of 1,000 jobs of 2 kB each fits).
#: jobsite.asgi refuses a larger one with 413 before reading it (jobsite.body_limit).
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

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
#: email.send may send as DEFAULT_FROM_EMAIL or one of these (comma-separated), and to at most
#: EMAIL_MAX_RECIPIENTS addresses per job: whoever may enqueue it must not turn it into an open relay.
EMAIL_ALLOWED_FROM = env_list("EMAIL_ALLOWED_FROM", [])
EMAIL_MAX_RECIPIENTS = env_int("EMAIL_MAX_RECIPIENTS", 10, minimum=1)

# --- Access: API tokens, WebSockets (jobs/core/access.py) ------------------

#: Days an API token lives unless its creator says otherwise (0: tokens never expire by default).
API_TOKEN_DEFAULT_DAYS = env_float("API_TOKEN_DEFAULT_DAYS", 90.0, minimum=0)
#: Seconds between a WebSocket's re-checks of its session and permissions (logout and user changes: at once).
WS_ACCESS_RECHECK_SECONDS = env_float("WS_ACCESS_RECHECK_SECONDS", 30.0, minimum=0.05)

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
#: What one attempt keeps of its handler's log (ctx.logger, ctx.log): at most this many lines and this many
#: bytes of their text; past either, one marker line says how many more were dropped (jobs/execution/run_log.py).
JOB_LOG_MAX_LINES = env_int("JOB_LOG_MAX_LINES", 1000, minimum=0)
JOB_LOG_MAX_BYTES = env_int("JOB_LOG_MAX_BYTES", 64 * 1024, minimum=0)
#: Upper bound for any backoff delay, and the jitter fraction applied to it.
JOB_BACKOFF_CAP = env_float("JOB_BACKOFF_CAP", 3600.0, minimum=0.001)
JOB_BACKOFF_JITTER = env_float("JOB_BACKOFF_JITTER", 0.1, minimum=0)
#: How often the scheduler looks for due jobs; keeps a retry within 1 s of its due time.
SCHEDULER_INTERVAL = env_float("SCHEDULER_INTERVAL", 0.2, minimum=0.01)
#: /healthz reports the scheduler unhealthy when its leader has not beaten for this long.
SCHEDULER_MAX_LAG = env_float("SCHEDULER_MAX_LAG", 30.0, minimum=1)
#: Who may enqueue a type, overriding its declaration (jobs/core/registry.py, README "Security"):
#: JOB_TYPE_ACCESS="ai.summarize=restricted,demo.sleep=internal".
JOB_TYPE_ACCESS = dict(item.partition("=")[::2] for item in env_list("JOB_TYPE_ACCESS", []))
#: `manage.py bootstrap_demo` (run by `make run`): a demo superuser and API token when that user does not
#: exist yet, and a few demo jobs. 0: it does nothing.
DEMO = env_bool("DEMO", True)
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
#: (the stream sink first: it stamps the sequence number the others carry). Webhook deliveries are
#: no sink: they are written in the state change's own transaction (jobs.engine.publish).
JOB_EVENT_SINKS = ["jobs.events.stream.stream_sink", "jobs.events.log.log_sink"]
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
#: Key of the X-Signature HMAC on webhook deliveries. Empty: no delivery goes out (unsigned ones
#: could be forged), and the API refuses a job's webhook_url.
WEBHOOK_SECRET = env_str("WEBHOOK_SECRET", "")
#: Seconds one delivery may take in all (connect, send, read the answer) before it counts as failed
#: (and is retried).
WEBHOOK_TIMEOUT = env_float("WEBHOOK_TIMEOUT", 5.0, minimum=0.1)
_HOST_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$")


def _webhook_allowed_hosts(raw: list[str]) -> list[str]:
    """WEBHOOK_ALLOWED_HOSTS: host names and addresses or networks (CIDR), lower-cased."""
    allowed = []
    for item in (entry.lower().rstrip(".") for entry in raw):
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            if not _HOST_NAME.match(item):
                raise ImproperlyConfigured(f"WEBHOOK_ALLOWED_HOSTS: {item!r} is neither a host name "
                                           "nor an address or network (e.g. 10.0.0.0/8)") from None
        allowed.append(item)
    return allowed


#: Receivers a webhook may reach although they are not public addresses (loopback, private,
#: link-local, ...: refused otherwise, jobs.events.webhooks): comma-separated host names (trusted
#: whatever they resolve to), addresses and networks, e.g. "hooks.internal,10.1.2.0/24".
WEBHOOK_ALLOWED_HOSTS = _webhook_allowed_hosts(env_list("WEBHOOK_ALLOWED_HOSTS", []))
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


#: django-rq's admin page would show RQ's lists beside the real dashboard, as if they were the queues.
RQ_SHOW_ADMIN_LINK = False

#: Django's Tasks API runs on this engine (README, "Using Django's Tasks API"): every JOB_QUEUES queue
#: is a task queue; OPTIONS["TASKS"] sets access, max_attempts and timeout per task module path.
TASKS = {"default": {"BACKEND": "jobs.tasks.backend.JobQueueBackend", "QUEUES": list(JOB_QUEUES), "OPTIONS": {
    "TASKS": {"jobs.jobtypes.demo_tasks.add": {"access": "public"}} if JOBS_DEMO_TYPES else {}}}}

#: Global webhook receivers per event, e.g. "job:failed=https://a/b,job:completed=https://c/d".
WEBHOOK_URLS = _webhook_urls(env_str("WEBHOOK_URLS", ""))

# --- Limits (README, "Security") ---------------------------------------------

#: API requests per caller (a user, whichever of their tokens or session they use), as
#: "<per second>/<burst>" per scope, kept in Redis so they hold across web processes; over the
#: limit the API answers 429 with Retry-After. API_RATE_LIMITS="enqueue=100/200,read=300/600".
API_RATE_LIMITS = {"enqueue": "100/200", "bulk": "5/10", "act": "50/100", "read": "300/600"}
for _scope, _, _limit in (item.partition("=") for item in env_list("API_RATE_LIMITS", [])):
    if _scope not in API_RATE_LIMITS:
        raise ImproperlyConfigured(f"API_RATE_LIMITS: unknown scope {_scope!r}; scopes: {', '.join(API_RATE_LIMITS)}")
    API_RATE_LIMITS[_scope] = _limit
for _scope, _limit in API_RATE_LIMITS.items():
    _rate, _, _burst = _limit.partition("/")
    if not (_rate.replace(".", "", 1).isdigit() and float(_rate) > 0 and _burst.isdigit() and int(_burst) >= 1):
        raise ImproperlyConfigured(f"API_RATE_LIMITS: {_scope}={_limit!r} is not <per second>/<burst>, e.g. 100/200")

#: Admin login: after LOGIN_FAILURE_LIMIT failures for one username from one address, that pair
#: is locked out for LOGIN_COOLOFF_MINUTES (django-axes; attempts are listed in the admin).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("LOGIN_COOLOFF_MINUTES", 15.0, minimum=0.1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# --- Metrics (README, "Observability") ---------------------------------------

#: Each process adds what it counted to PostgreSQL this often (seconds) and at exit (jobs/events/metrics.py).
METRICS_FLUSH_SECONDS = env_float("METRICS_FLUSH_SECONDS", 2.0, minimum=0.05)
#: Scrapers from these networks (CIDRs, e.g. "10.0.0.0/8,127.0.0.1/32") need no token for GET /metrics.
try:
    METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network(n.strip(), strict=False)
                                for n in env_list("METRICS_ALLOWED_NETWORKS", []) if n.strip()]
except ValueError as _exc:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {_exc}") from None

LOG_LEVEL = env_str("LOG_LEVEL", "WARNING" if CLI else "INFO").upper()
#: "kv" (key=value lines, for people: make run) or "json" (one object per line, for a log pipeline:
#: docker-compose's default). jobsite/logs.py puts each line's correlation id and job on it.
LOG_FORMAT = env_str("LOG_FORMAT", "kv").lower()
if LOG_FORMAT not in ("kv", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be kv or json, not {LOG_FORMAT!r}")
#: Whether lifecycle lines include the job's payload (LOG_PAYLOADS=1); off: payloads may hold personal data.
LOG_PAYLOADS = env_bool("LOG_PAYLOADS", False)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "jobsite.logs.ContextFilter"}},
    "formatters": {
        "kv": {"format": "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"},
        "json": {"()": "pythonjsonlogger.json.JsonFormatter", "fmt": "%(levelname)s %(name)s %(message)s",
                 "rename_fields": {"levelname": "level", "name": "logger"}, "timestamp": True},  # ISO 8601, UTC
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "jobs": {"level": LOG_LEVEL},
        "monitoring": {"level": LOG_LEVEL},
        "rq.worker": {"level": "WARNING"},
        # A command's reconnect attempts are noise: manage.py says in one line what is unreachable.
        **({"psycopg.pool": {"level": "CRITICAL"}} if CLI else {}),
        # The web server's own lines as JSON too (uvicorn.access: one line per request, beside api_request).
        **({name: {"handlers": ["console"], "level": "INFO", "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")} if LOG_FORMAT == "json" else {}),
    },
}
