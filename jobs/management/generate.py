"""A synthetic job history for benchmarks and demos: millions of rows in one INSERT … SELECT.

Rows look like production: the registered job types on their queues, payloads
their schemas accept (so "run again" works on them), mostly completed jobs
spread over ``days``, a tail of failed and cancelled ones with realistic
errors, a live backlog (pending, scheduled, retrying, a few active), and one
JobAttempt per run. Everything is computed by PostgreSQL (generate_series,
random()) in a temporary table, then copied into the job and attempt tables;
no row passes through Python. ``seed`` makes a run repeatable.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import connection, transaction

from jobs.models import QueueJob
from jobs.plugins.counts import job_counts_rebuild

#: From this many rows on, the trigram indexes are dropped and built again after the
#: INSERT (in the same transaction): a build is about twice as fast as adding a million
#: rows one by one, but it locks the table until the transaction commits.
REBUILD_INDEXES_FROM = 200_000
TRIGRAM_INDEXES = ("job_payload_trgm", "job_error_trgm")

#: (type, queue, share of rows, payload as a SQL expression over the row number g and r1..r3 in [0, 1)).
JOB_MIX: tuple[tuple[str, str, float, str], ...] = (
    ("email.send", "email", 0.34,
     "jsonb_build_object('to', jsonb_build_array('user' || (g % 50000) || '@example.com'),"
     " 'subject', (ARRAY['Welcome aboard', 'Your invoice', 'Password reset', 'Weekly digest',"
     " 'Order shipped'])[1 + (g % 5)] || ' #' || (g % 100000), 'body', 'Hello user' || (g % 50000)"
     " || ', here is your message.', 'html', null, 'from_email', null, 'reply_to', '[]'::jsonb)"),
    ("indexing.reindex", "indexing", 0.24,
     "jsonb_build_object('entity_type', (ARRAY['article', 'product', 'user', 'comment'])[1 + (g % 4)],"
     " 'entity_id', (g % 200000)::text, 'title', 'Item ' || (g % 200000), 'body', repeat('lorem ipsum ', 1 + (g % 8)),"
     " 'language', 'english')"),
    ("notification.webhook", "notification", 0.16,
     "jsonb_build_object('url', 'https://hooks.example.com/' || (g % 300), 'event',"
     " jsonb_build_object('type', 'job.event', 'event', 'job:completed', 'seq', g))"),
    ("ai.summarize", "ai", 0.10,
     "jsonb_build_object('text', 'Quarterly report ' || (g % 9000) || '. Revenue grew. Costs fell. Outlook is stable.',"
     " 'max_sentences', 1 + (g % 5))"),
    ("demo.sleep", "default", 0.08, "jsonb_build_object('seconds', round((r1 * 3)::numeric, 2), 'steps', 1 + (g % 10))"),
    ("demo.noop", "default", 0.05, "'{}'::jsonb"),
    ("report.queue_summary", "report", 0.01, "'{}'::jsonb"),
    ("cleanup.prune_jobs", "cleanup", 0.01, "'{}'::jsonb"),
    ("maintenance.vacuum_jobs", "maintenance", 0.01, "'{}'::jsonb"),
)

#: (state, share of rows); final states spread over the whole period, live ones recent.
STATE_MIX: tuple[tuple[str, float], ...] = (
    ("completed", 0.86), ("failed", 0.045), ("cancelled", 0.015), ("pending", 0.05),
    ("scheduled", 0.02), ("retrying", 0.0095), ("active", 0.0005),
)

ERRORS = (
    "TimeoutError: upstream did not answer within 30 s (attempt on host 10.0.%s.7)",
    "SMTPRecipientsRefused: 550 mailbox unavailable for user%s@example.com",
    "ConnectionError: connection refused by db-%s.internal:5432",
    "ValueError: document %s not found in the source table",
    "HTTPError: 503 Service Unavailable from https://hooks.example.com/%s",
    "RateLimited: provider quota exceeded, retry after %s s",
)


@dataclass(frozen=True)
class Generated:
    jobs: int
    attempts: int
    #: Seconds per phase, for the command's report.
    timings: dict[str, float]


def _case(column: str, cuts: list[tuple[float, str]]) -> str:
    """CASE choosing by a uniform [0, 1) value in ``column``: each THEN applies below its cut."""
    arms = " ".join(f"WHEN {column} < {cut!r} THEN {value}" for cut, value in cuts[:-1])
    return f"CASE {arms} ELSE {cuts[-1][1]} END"


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def generate_jobs(*, count: int, days: float = 30.0, seed: float = 0.42) -> Generated:
    """Insert ``count`` jobs (and their attempts); returns how many rows of each were written."""
    total_share = sum(share for _, _, share, _ in JOB_MIX)
    type_cuts, acc = [], 0.0
    for index, (_, _, share, _) in enumerate(JOB_MIX):
        acc += share / total_share
        type_cuts.append((acc, str(index)))
    state_cuts, acc = [], 0.0
    for state, share in STATE_MIX:
        acc += share
        state_cuts.append((acc, _sql_literal(state)))
    types = ", ".join(f"({i}, {_sql_literal(t)}, {_sql_literal(q)})" for i, (t, q, _, _) in enumerate(JOB_MIX))
    # Doubled %: the statement below also carries psycopg parameters.
    payloads = " ".join(f"WHEN {i} THEN {payload}" for i, (_, _, _, payload) in enumerate(JOB_MIX)).replace("%", "%%")
    errors = ("ARRAY[" + ", ".join(_sql_literal(e) for e in ERRORS) + "]").replace("%", "%%")

    timings: dict[str, float] = {}
    began = time.monotonic()

    def lap(name: str) -> None:
        nonlocal began
        now = time.monotonic()
        timings[name] = now - began
        began = now

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [seed])
        cursor.execute("SET LOCAL work_mem = '256MB'")
        # The trigram index collects new entries in its pending list and merges them when
        # it is full: a larger list means fewer, larger (sorted, cheaper) merges.
        cursor.execute("SET LOCAL gin_pending_list_limit = '64MB'")
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        # Foreign keys checked at each statement's end, not at commit: CREATE INDEX
        # refuses to run while checks are pending.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        rebuilt = ([ix for ix in QueueJob._meta.indexes if ix.name in TRIGRAM_INDEXES]
                   if count >= REBUILD_INDEXES_FROM else [])
        for index in rebuilt:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(index.name)}")
        cursor.execute(f"""
            CREATE TEMP TABLE gen ON COMMIT DROP AS
            WITH draws AS (
                SELECT g, random() AS r1, random() AS r2, random() AS r3, random() AS r4
                  FROM generate_series(1, %(count)s) AS g
            ), picked AS (
                SELECT d.*, ({_case('r1', type_cuts)})::int AS t, {_case('r2', state_cuts)} AS status FROM draws d
            )
            , timed AS (
                SELECT p.*, CASE WHEN p.status IN ('pending', 'scheduled', 'retrying', 'active')
                                 THEN now() - make_interval(secs => p.r3 * 7200)
                                 ELSE now() - make_interval(secs => p.r3 * %(days)s * 86400) END AS created_at
                  FROM picked p
            )
            SELECT gen_random_uuid() AS id,
                   p.g, kinds.type, kinds.queue, p.status, p.r1, p.r2, p.r3, p.created_at,
                   CASE p.t {payloads} END AS payload,
                   CASE p.status WHEN 'completed' THEN 1 + (p.r4 < 0.08)::int WHEN 'failed' THEN 3
                        WHEN 'retrying' THEN 1 + (p.r4 < 0.4)::int WHEN 'active' THEN 1
                        WHEN 'cancelled' THEN (p.r4 < 0.5)::int ELSE 0 END AS attempts,
                   format(({errors})[1 + (p.g %% 6)], p.g %% 97) AS error_text,
                   0.05 + p.r4 * p.r4 * 20 AS duration
              FROM timed p JOIN (VALUES {types}) AS kinds (t, type, queue) ON kinds.t = p.t
        """, {"count": count, "days": days})
        lap("draw")
        cursor.execute("""
            INSERT INTO jobs_queuejob (
                id, type, queue, payload, status, priority, attempts, interruptions, max_attempts, retry_policy,
                timeout, run_at, cancel_requested, progress_percent, progress_stage, progress_message,
                progress_updated_at, result, error, correlation_id, webhook_url, unique_key, source, source_detail,
                created_by_id, created_at, updated_at, started_at, finished_at, rq_id, dispatched_at)
            SELECT id, type, queue, payload, status, CASE queue WHEN 'email' THEN 2 ELSE 5 END, attempts, 0, 3,
                   '{"max_attempts": 3, "backoff": "exponential", "delays": [1.0], "cap": 3600.0,
                     "jitter": 0.1, "retryable": true}'::jsonb,
                   10, CASE status WHEN 'scheduled' THEN now() + make_interval(secs => r1 * 86400)
                                   WHEN 'retrying' THEN now() + make_interval(secs => r1 * 600) END,
                   false, CASE status WHEN 'completed' THEN 100 WHEN 'active' THEN (r2 * 100)::int ELSE 0 END,
                   CASE WHEN status IN ('completed', 'active') THEN 'done' ELSE '' END, '',
                   CASE WHEN status IN ('completed', 'active') THEN created_at + make_interval(secs => duration) END,
                   CASE WHEN status = 'completed' THEN jsonb_build_object('ok', true, 'n', g %% 1000) END,
                   CASE WHEN status IN ('failed', 'retrying') THEN error_text ELSE '' END,
                   CASE WHEN g %% 10 = 0 THEN 'req-' || (g %% 100000) ELSE '' END, '', NULL,
                   (ARRAY['api', 'python', 'schedule', 'admin', 'command'])[1 + (g %% 5)], '', NULL,
                   created_at, created_at + make_interval(secs => duration),
                   CASE WHEN attempts > 0 THEN created_at + interval '50 milliseconds' END,
                   CASE WHEN status IN ('completed', 'failed', 'cancelled')
                        THEN created_at + make_interval(secs => 0.05 + duration * attempts) END,
                   '', CASE WHEN status = 'pending' THEN created_at END
              FROM gen ORDER BY created_at DESC  -- most indexes are newest first: entries then arrive in order
        """, [])
        jobs = cursor.rowcount
        lap("jobs")
        with connection.schema_editor(atomic=False) as editor:
            for index in rebuilt:
                editor.add_index(QueueJob, index)
        if rebuilt:
            lap("indexes")
        cursor.execute("""
            INSERT INTO jobs_jobattempt (job_id, number, worker, pid, started_at, finished_at, outcome, error_type,
                                         error_message, traceback, duration, lease_expires_at)
            SELECT gen.id, n, 'worker-' || (g %% 4) || '.example', 1000 + (g %% 4),
                   created_at + make_interval(secs => 0.05 + duration * (n - 1)),
                   CASE WHEN status = 'active' THEN NULL ELSE created_at + make_interval(secs => 0.05 + duration * n) END,
                   CASE WHEN status = 'active' THEN ''
                        WHEN n = attempts AND status = 'completed' THEN 'completed'
                        WHEN n = attempts AND status = 'cancelled' THEN 'cancelled'
                        ELSE 'error' END,
                   CASE WHEN status = 'active' OR (n = attempts AND status IN ('completed', 'cancelled')) THEN ''
                        ELSE split_part(error_text, ':', 1) END,
                   CASE WHEN status = 'active' OR (n = attempts AND status IN ('completed', 'cancelled')) THEN ''
                        ELSE substr(error_text, strpos(error_text, ':') + 2) END,
                   CASE WHEN status = 'active' OR (n = attempts AND status IN ('completed', 'cancelled')) THEN ''
                        ELSE 'Traceback (most recent call last):' || chr(10) || '  File "jobs/runner.py", line 91,'
                             || ' in _run_handler' || chr(10) || '    value = job_type.handler(ctx)' || chr(10)
                             || error_text END,
                   CASE WHEN status = 'active' THEN NULL ELSE duration END,
                   CASE WHEN status = 'active' THEN now() + interval '30 seconds' END
              FROM gen, generate_series(1, gen.attempts) AS n
             ORDER BY gen.id, n  -- the foreign key checks (at commit) then read the job index in order
        """, [])
        attempts = cursor.rowcount
        lap("attempts")
    lap("commit")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_queuejob")
        cursor.execute("ANALYZE jobs_jobattempt")
    lap("analyze")
    job_counts_rebuild(throughput_from_rows=True)
    lap("counts")
    return Generated(jobs=jobs, attempts=attempts, timings=timings)
