"""The durable record: every job is a QueueJob row before anything reaches Redis."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import F, Func, Q, TextField, Value
from django.db.models.functions import Cast, Left
from django.utils.timezone import now as tz_now

from jobs.core.access import SCOPES
from jobs.core.cron import next_fire_time, schedule_validate
from jobs.core.states import LIVE_STATES, AttemptOutcome, JobStatus

#: Payload search looks at (and indexes) this many leading characters of the payload's
#: JSON text: every status change re-indexes the row, so the index must stay small
#: even for 200 kB payloads.
SEARCH_PAYLOAD_CHARS = 1000


_UUID_PATTERN = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


def error_signature_expression() -> Func:
    """The error's first line (200 characters at most) with ids and numbers blanked out.

    "HTTPError: 503 from https://x/17" and "HTTPError: 502 from https://x/4"
    share "HTTPError: N from https://x/N": the dead-letter page groups by it.
    """
    first_line = Left(Func(F("error"), Value("\n"), Value(1), function="split_part"), 200)
    no_ids = Func(first_line, Value(_UUID_PATTERN), Value("<id>"), Value("g"), function="regexp_replace")
    return Func(no_ids, Value("[0-9]+"), Value("N"), Value("g"), function="regexp_replace", output_field=TextField())


class JobSource(models.TextChoices):
    API = "api", "API"
    ADMIN = "admin", "Admin"
    COMMAND = "command", "Command"
    SCHEDULE = "schedule", "Schedule"
    PYTHON = "python", "Python"
    WEBHOOK = "webhook", "Webhook"


class QueueJob(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=100)
    queue = models.CharField(max_length=50)
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING)
    priority = models.SmallIntegerField(default=5, help_text="0-9, lower runs first")

    attempts = models.PositiveIntegerField(default=0, help_text="Runs started, interrupted ones included")
    interruptions = models.PositiveIntegerField(
        default=0, help_text="Runs stopped by a worker shutdown; not charged against max_attempts"
    )
    max_attempts = models.PositiveIntegerField(default=3)
    retry_policy = models.JSONField(default=dict, help_text="Snapshot of the policy resolved at enqueue")
    timeout = models.FloatField(help_text="Handler time limit in seconds")
    run_at = models.DateTimeField(null=True, blank=True, help_text="When a scheduled or retrying job becomes due")
    cancel_requested = models.BooleanField(default=False)

    progress_percent = models.SmallIntegerField(default=0)
    progress_stage = models.CharField(max_length=100, blank=True)
    progress_message = models.TextField(blank=True)
    progress_updated_at = models.DateTimeField(null=True, blank=True)

    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Last error, as 'Type: message'")
    error_signature = models.GeneratedField(
        expression=error_signature_expression(), output_field=models.CharField(max_length=250), db_persist=True,
        help_text="The error with numbers and ids blanked out: groups alike failures",
    )
    correlation_id = models.CharField(max_length=100, blank=True)
    #: W3C traceparent of the span that enqueued the job (jobs/core/tracing.py), when tracing is on.
    traceparent = models.CharField(max_length=55, blank=True, default="", db_default="")
    webhook_url = models.URLField(max_length=2000, blank=True, help_text="Receives this job's lifecycle events")
    unique_key = models.CharField(max_length=200, null=True, blank=True)

    source = models.CharField(max_length=16, choices=JobSource.choices, default=JobSource.PYTHON)
    source_detail = models.CharField(max_length=200, blank=True, help_text="Token, schedule or command name")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    rq_id = models.CharField(max_length=64, blank=True)
    dispatched_at = models.DateTimeField(
        null=True, blank=True, help_text="Last hand-over to Redis; empty while waiting to be dispatched"
    )

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("retry_queuejob", "Can retry jobs"),
            ("cancel_queuejob", "Can cancel jobs"),
            ("pause_queue", "Can pause and resume queues"),
            ("prioritize_queuejob", "Can enqueue jobs at priority 0"),
        ]
        indexes = [
            models.Index(fields=["queue", "status", "-created_at"], name="job_queue_status_created"),
            models.Index(fields=["status", "-created_at"], name="job_status_created"),
            models.Index(fields=["type", "status", "-created_at"], name="job_type_status_created"),
            models.Index(fields=["-created_at", "-id"], name="job_created_id"),
            models.Index(
                fields=["run_at"],
                name="job_waiting_run_at",
                condition=Q(status__in=[JobStatus.SCHEDULED, JobStatus.RETRYING]),
            ),
            models.Index(fields=["dispatched_at"], name="job_pending_dispatched", condition=Q(status=JobStatus.PENDING)),
            models.Index(
                fields=["created_at"],
                name="job_undispatched",
                condition=Q(status=JobStatus.PENDING, dispatched_at__isnull=True),
            ),
            models.Index(fields=["correlation_id"], name="job_correlation", condition=~Q(correlation_id="")),
            # Dashboard (jobs.selectors.filters): a queue's finished jobs by finish time.
            models.Index(fields=["queue", "-finished_at", "-id"], name="job_queue_finished_id",
                         condition=Q(finished_at__isnull=False)),
            # Substring search (pg_trgm): the payload's first SEARCH_PAYLOAD_CHARS characters, and errors.
            GinIndex(OpClass(Left(Cast("payload", TextField()), Value(SEARCH_PAYLOAD_CHARS)), name="gin_trgm_ops"),
                     name="job_payload_trgm"),
            GinIndex(OpClass("error", name="gin_trgm_ops"), name="job_error_trgm", condition=~Q(error="")),
            # The dead-letter page: failed jobs grouped by type and error, counted from the index alone.
            models.Index(fields=["type", "error_signature"], include=["finished_at"], name="job_failed_signature",
                         condition=Q(status=JobStatus.FAILED)),
        ]
        constraints = [
            # Keys are scoped by type: another type's job (or caller) cannot squat a key.
            models.UniqueConstraint(
                fields=["type", "unique_key"],
                name="job_type_unique_key_live",
                condition=Q(unique_key__isnull=False, status__in=sorted(LIVE_STATES)),
            ),
            models.CheckConstraint(condition=Q(priority__gte=0, priority__lte=9), name="job_priority_range"),
            models.CheckConstraint(
                condition=Q(progress_percent__gte=0, progress_percent__lte=100), name="job_progress_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id} ({self.status})"


class JobAttempt(models.Model):
    job = models.ForeignKey(QueueJob, on_delete=models.CASCADE, related_name="attempt_set")
    number = models.PositiveIntegerField()
    worker = models.CharField(max_length=200, blank=True)
    pid = models.IntegerField(null=True, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=AttemptOutcome.choices, blank=True)
    error_type = models.CharField(max_length=200, blank=True)
    error_message = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    duration = models.FloatField(null=True, blank=True, help_text="Seconds")
    lease_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Renewed by the worker while the handler runs; past it, the run is lost"
    )

    class Meta:
        ordering = ["job", "number"]
        constraints = [models.UniqueConstraint(fields=["job", "number"], name="attempt_job_number")]
        indexes = [
            models.Index(fields=["outcome", "-started_at"], name="attempt_outcome_started"),
            models.Index(fields=["lease_expires_at"], name="attempt_open_lease", condition=Q(finished_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.job_id}: {self.outcome or 'running'}"


class JobLogLine(models.Model):
    """One line a handler logged in one attempt (``ctx.logger``, ``ctx.log``), capped per attempt.

    Written in batches by jobs/engine/attempt_logs.py only; deleted with the
    attempt (jobs.engine.transitions.jobs_delete, the pruner's path). The
    primary key is (attempt, number): the order of an attempt's lines and what
    makes a batch written twice (a retried finish) store each line once, in
    one index.
    """

    pk = models.CompositePrimaryKey("attempt_id", "number")
    attempt = models.ForeignKey(JobAttempt, on_delete=models.CASCADE, related_name="log_lines", db_index=False)
    number = models.PositiveIntegerField()
    at = models.DateTimeField()
    level = models.CharField(max_length=16)
    message = models.TextField()

    def __str__(self) -> str:
        return f"{self.attempt_id}#{self.number} {self.level} {self.message[:60]}"


class QueueState(models.Model):
    """Per-queue switches that must survive Redis loss (pause)."""

    name = models.CharField(max_length=50, primary_key=True)
    paused = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} ({'paused' if self.paused else 'running'})"


class QueueRateWindow(models.Model):
    """The latest job starts of a rate-limited queue (jobs.engine.limits): a sliding window's log."""

    queue = models.CharField(max_length=50, primary_key=True)
    starts = ArrayField(models.DateTimeField(), default=list)

    def __str__(self) -> str:
        return f"{self.queue}: {len(self.starts)} recent starts"


class MisfirePolicy(models.TextChoices):
    FIRE_ONCE = "fire_once", "Fire once for the missed window"
    SKIP = "skip", "Skip missed fire times"


class Schedule(models.Model):
    """A recurring job: fires job ``job_type`` with ``payload`` at each cron time."""

    name = models.CharField(max_length=100, unique=True)
    job_type = models.CharField(max_length=100)
    payload = models.JSONField(default=dict, blank=True)
    cron = models.CharField(max_length=100, help_text="Five-field cron expression, e.g. '0 0 * * *'")
    timezone = models.CharField(max_length=64, default="UTC")
    enabled = models.BooleanField(default=True)
    misfire_policy = models.CharField(max_length=16, choices=MisfirePolicy.choices, default=MisfirePolicy.FIRE_ONCE)
    next_fire_at = models.DateTimeField(null=True, blank=True)
    last_fired_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["next_fire_at"], name="schedule_due", condition=Q(enabled=True))]

    def __str__(self) -> str:
        return f"{self.name} ({self.cron} {self.timezone})"

    def clean(self) -> None:
        self.payload = schedule_validate(
            job_type=self.job_type, payload=self.payload or {}, cron=self.cron, timezone_name=self.timezone
        )

    def save(self, *args: object, **kwargs: object) -> None:
        """A new or re-timed schedule gets its next fire time computed from now."""
        update_fields = kwargs.get("update_fields")
        if update_fields is None or {"cron", "timezone", "enabled"} & set(update_fields):  # type: ignore[arg-type]
            if self.next_fire_at is None or self._timing_changed():
                self.next_fire_at = next_fire_time(self.cron, self.timezone, tz_now())
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def _timing_changed(self) -> bool:
        if self.pk is None:
            return True
        old = Schedule.objects.filter(pk=self.pk).values("cron", "timezone", "enabled").first()
        return old is None or (old["cron"], old["timezone"], old["enabled"]) != (self.cron, self.timezone, self.enabled)


class ScheduleFiring(models.Model):
    """One row per (schedule, fire time): the unique constraint is what makes a firing happen once."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="firings")
    fire_time = models.DateTimeField()
    job_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["schedule", "fire_time"], name="firing_once")]

    def __str__(self) -> str:
        return f"{self.schedule_id} @ {self.fire_time:%Y-%m-%d %H:%M:%S}"


class SchedulerHeartbeat(models.Model):
    """Written by the scheduler leader every tick; /healthz reports its lag."""

    name = models.CharField(max_length=20, primary_key=True, default="leader")
    holder = models.CharField(max_length=200)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.holder} at {self.beat_at:%H:%M:%S}"


def _all_scopes() -> list[str]:
    return list(SCOPES)


class ApiToken(models.Model):
    """A bearer token for the API; only its SHA-256 is stored (jobs/api/tokens.py).

    It acts as its user, narrowed to its scopes (jobs/core/access.py), until it
    expires or is revoked; a revocation cannot be undone, so a leaked key stays dead.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="First characters, to recognise a token in lists")
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = ArrayField(models.CharField(max_length=16, choices=[(s, s) for s in SCOPES]), default=_all_scopes,
                        help_text="read, enqueue, act, metrics: what the token may use of its user's permissions")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Refused from then on (empty: never)")
    revoked_at = models.DateTimeField(null=True, blank=True, help_text="Refused from then on")
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) for {self.user}"

    def state(self) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= tz_now():
            return "expired"
        return "active"


class AuditEntry(models.Model):
    """One state-changing action, from any interface: who, through what, what, on how many, which filter.

    A table of its own rather than django.contrib.admin's LogEntry: commands
    have no Django user (LogEntry requires one), and "through what" (session,
    token prefix, command) and "how many" are columns here, so the admin can
    filter on them. Written by jobs/engine/audit.py only.
    """

    at = models.DateTimeField(default=tz_now)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    actor = models.CharField(max_length=150, help_text="The user's name then, or the OS user of a command")
    interface = models.CharField(max_length=16, help_text="api, dashboard, admin or cli")
    via = models.CharField(max_length=16, help_text="session, token or command")
    credential = models.CharField(max_length=64, blank=True, help_text="The token's prefix or the command's name")
    action = models.CharField(max_length=32)
    target = models.CharField(max_length=200, blank=True, help_text="A queue or tokens acted on (empty: jobs)")
    object_id = models.CharField(max_length=64, blank=True, help_text="The one job acted on (its page lists it)")
    count = models.PositiveIntegerField(default=0, help_text="How many things changed")
    detail = models.TextField(blank=True, help_text="The filter used, or what was done")

    class Meta:
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["-at"], name="audit_at"),
            models.Index(fields=["object_id", "at"], condition=~Q(object_id=""), name="audit_object"),
        ]

    def __str__(self) -> str:
        return f"{self.actor} via {self.via}: {self.message}"

    @property
    def message(self) -> str:
        """One line for lists and the job page's timeline, e.g. ``retry: 3 jobs (queue=default, state=failed)``."""
        what = self.target or f"{self.count:,} job{'' if self.count == 1 else 's'}"
        return f"{self.action}: {what}" + (f" ({self.detail})" if self.detail else "")


class SearchDocument(models.Model):
    """Full-text search document kept up to date by the indexing.reindex job type."""

    entity_type = models.CharField(max_length=100)
    entity_id = models.CharField(max_length=100)
    title = models.CharField(max_length=500, blank=True)
    body = models.TextField(blank=True)
    language = models.CharField(max_length=32, default="english")
    vector = SearchVectorField(null=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entity_type", "entity_id"], name="searchdoc_entity")]
        indexes = [GinIndex(fields=["vector"], name="searchdoc_vector")]

    def __str__(self) -> str:
        return f"{self.entity_type}:{self.entity_id}"


# --- Job counts per queue and state, kept by triggers (migration 0003) ---------------
#
# Counting 1M rows per page view is too slow, so PostgreSQL keeps the counts:
# triggers on jobs_queuejob append +1/-1 rows to JobCountDelta (append-only, so
# concurrent transitions never wait on a shared counter row), and the scheduler
# folds them into JobCount and JobThroughput (jobs.selectors.counts). A count is JobCount
# plus the deltas not folded yet: exact, and transactional.


class JobCount(models.Model):
    queue = models.CharField(max_length=50)
    status = models.CharField(max_length=16, choices=JobStatus.choices)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["queue", "status"], name="jobcount_queue_status")]

    def __str__(self) -> str:
        return f"{self.queue}/{self.status}: {self.n}"


class JobCountDelta(models.Model):
    queue = models.CharField(max_length=50)
    status = models.CharField(max_length=16, choices=JobStatus.choices)
    n = models.BigIntegerField()
    #: A job reached completed, failed or retrying by a transition (not an insert): counts as throughput
    #: (retrying: one of its attempts failed and another follows).
    finished = models.BooleanField(default=False)
    at = models.DateTimeField(db_default=models.functions.Now())

    def __str__(self) -> str:
        return f"{self.queue}/{self.status} {self.n:+d}"


class JobThroughput(models.Model):
    """Jobs that finished per queue and minute (kept for a day), and the failed attempts that were retried.

    ``failed`` counts jobs that reached the dead-letter queue, ``retried`` attempts that failed with
    another to follow: a job that fails twice and then completes counts 2 retried and 1 completed.
    """

    queue = models.CharField(max_length=50)
    minute = models.DateTimeField()
    completed = models.IntegerField(default=0)
    failed = models.IntegerField(default=0)
    retried = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["queue", "minute"], name="throughput_queue_minute")]

    def __str__(self) -> str:
        return (f"{self.queue} {self.minute:%H:%M}: {self.completed} completed, {self.failed} failed,"
                f" {self.retried} retried")


class MetricCounter(models.Model):
    """One Prometheus counter series (or a histogram's bucket, sum or count), added up over every process.

    Processes count in memory and add their counts here every few seconds (jobs/events/metrics.py);
    ``GET /metrics`` reads the sums. Nothing prunes these rows, so a counter never goes down when a worker
    restarts or retention deletes jobs; only a recount can (there is none).
    """

    name = models.CharField(max_length=64)
    #: The label pairs as canonical JSON (sorted keys), e.g. ``{"queue": "default", "type": "demo.noop"}``.
    labels = models.CharField(max_length=500)
    value = models.FloatField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "labels"], name="metric_counter_series")]

    def __str__(self) -> str:
        return f"{self.name}{self.labels} {self.value:g}"
