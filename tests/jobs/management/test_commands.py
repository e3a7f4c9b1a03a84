"""The management commands, against real PostgreSQL, Redis and worker processes.

Most tests use call_command inside the test transaction; exit codes and
``--wait`` need a real process (``manage.py`` in a subprocess) and rows that
other processes can see, so those tests use ``transaction=True``.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
import uuid
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from jobs.api.tokens import api_token_authenticate
from jobs.core.states import JobStatus
from jobs.engine.enqueue import job_enqueue
from jobs.models import ApiToken, JobSource, QueueJob, QueueState
from tests.conftest import ROOT, Processes, wait_for


def run(processes: Processes, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """``manage.py <args>`` in a subprocess against the test database."""
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=processes.env(),
                          capture_output=True, text=True, timeout=timeout)


def call(*args: str, **options: Any) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def make_job(type: str = "demo.noop", status: str | None = None, **payload: Any) -> QueueJob:
    job = job_enqueue(type=type, payload=payload).job
    if status:
        QueueJob.objects.filter(pk=job.pk).update(status=status)
        job.refresh_from_db()
    return job


# --- enqueue_job --------------------------------------------------------------------


@pytest.mark.django_db
def test_enqueue_job_prints_id_and_creates_row() -> None:
    out, _ = call("enqueue_job", "demo.sleep", "--payload", '{"seconds": 2, "steps": 3}', "--queue", "email",
                  "--priority", "1", "--max-attempts", "4", "--timeout", "30", "--correlation-id", "corr-1")
    job = QueueJob.objects.get(pk=uuid.UUID(out.strip()))
    assert (job.type, job.queue, job.priority, job.max_attempts, job.timeout) == ("demo.sleep", "email", 1, 4, 30)
    assert job.payload == {"seconds": 2, "steps": 3}
    assert (job.status, job.correlation_id) == (JobStatus.PENDING, "corr-1")
    assert (job.source, job.source_detail) == (JobSource.COMMAND, "enqueue_job")


@pytest.mark.django_db
def test_enqueue_job_delay_and_unique_key() -> None:
    out, _ = call("enqueue_job", "demo.noop", "--delay", "60", "--unique-key", "k1")
    again, err = call("enqueue_job", "demo.noop", "--unique-key", "k1")
    assert out == again
    assert "already exists" in err
    job = QueueJob.objects.get(pk=out.strip())
    assert job.status == JobStatus.SCHEDULED and job.run_at is not None
    assert QueueJob.objects.count() == 1


@pytest.mark.django_db
def test_enqueue_job_refused_input_raises_with_code_2() -> None:
    with pytest.raises(CommandError) as info:
        call("enqueue_job", "demo.noop", "--priority", "12")
    assert info.value.returncode == 2
    assert "priority" in str(info.value)
    with pytest.raises(CommandError, match="must be a JSON object"):
        call("enqueue_job", "demo.noop", "--payload", "[1]")
    assert not QueueJob.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("args, field", [
    (["demo.sleep", "--payload", "{not json"], "payload: invalid JSON"),
    (["demo.nope"], "type: unknown job type"),
    (["demo.sleep", "--payload", '{"seconds": -1}'], "seconds:"),
])
def test_enqueue_job_invalid_input_exits_2_naming_field(processes: Processes, args: list[str], field: str) -> None:
    proc = run(processes, "enqueue_job", *args)
    assert proc.returncode == 2, proc.stderr
    assert field in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not QueueJob.objects.exists()


@pytest.mark.django_db
def test_enqueue_job_wait_on_tty_redraws_one_line_then_times_out_with_code_3() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    with pytest.raises(CommandError) as info:  # no worker: the job stays pending
        call_command("enqueue_job", "demo.noop", "--wait", "--wait-timeout", "0.3", stdout=out)
    assert info.value.returncode == 3
    assert "still pending" in str(info.value)
    job_id, rest = out.getvalue().split("\n", 1)
    assert rest.startswith("\r[") and "0% pending" in rest and rest.endswith("\n")


@pytest.mark.django_db(transaction=True)
def test_enqueue_job_wait_follows_progress_to_completion(processes: Processes) -> None:
    processes.worker("default")
    proc = run(processes, "enqueue_job", "demo.sleep", "--payload", '{"seconds": 1, "steps": 4}', "--wait")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    job = QueueJob.objects.get(pk=lines[0])
    assert job.status == JobStatus.COMPLETED
    assert "\r" not in proc.stdout  # not a TTY: one line per change
    assert any("step 2/4" in line and "25%" in line for line in lines)
    assert any("50%" in line and "step 3/4" in line for line in lines)
    assert lines[-1] == 'completed: {"slept": 1.0}'


@pytest.mark.django_db(transaction=True)
def test_enqueue_job_wait_exits_1_on_permanent_failure(processes: Processes) -> None:
    processes.worker("default")
    proc = run(processes, "enqueue_job", "demo.fail", "--payload", '{"permanent": true, "message": "boom"}',
               "--wait", "--wait-timeout", "30")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1] == "failed: PermanentError: boom"
    assert "Traceback" not in proc.stderr
    assert QueueJob.objects.get().status == JobStatus.FAILED


# --- job_status, list_jobs ----------------------------------------------------------


@pytest.mark.django_db
def test_job_status_summary_and_json() -> None:
    job = make_job("demo.sleep", seconds=1)
    out, _ = call("job_status", str(job.id))
    assert f"id:          {job.id}" in out
    assert "status:      pending" in out and "No attempts yet." in out
    data = json.loads(call("job_status", str(job.id), "--json")[0])
    assert data["id"] == str(job.id) and data["type"] == "demo.sleep"
    assert data["payload"] == {"seconds": 1.0, "steps": 5}
    assert data["attempt_list"] == []


@pytest.mark.django_db(transaction=True)
def test_job_status_unknown_id_exits_1(processes: Processes) -> None:
    proc = run(processes, "job_status", str(uuid.uuid4()))
    assert proc.returncode == 1
    assert "no such job" in proc.stderr and "Traceback" not in proc.stderr
    with pytest.raises(CommandError, match="not-a-uuid: no such job"):
        call("job_status", "not-a-uuid")


@pytest.mark.django_db
def test_list_jobs_filters_and_json() -> None:
    noop = make_job("demo.noop")
    failed = make_job("demo.fail", status=JobStatus.FAILED, message="needle in payload")
    out, _ = call("list_jobs")
    assert str(noop.id) in out and str(failed.id) in out
    out, _ = call("list_jobs", "--status", "failed")
    assert str(failed.id) in out and str(noop.id) not in out
    data = json.loads(call("list_jobs", "--search", "needle", "--json")[0])
    assert [row["id"] for row in data] == [str(failed.id)]
    assert len(json.loads(call("list_jobs", "--limit", "1", "--json")[0])) == 1
    assert call("list_jobs", "--type", "email.send")[0].strip() == "No jobs match."


# --- retry_jobs, cancel_job ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_retry_jobs_by_filter_requeues_failed_jobs(processes: Processes) -> None:
    processes.worker("default")
    failing = [make_job("demo.fail", permanent=True) for _ in range(2)]
    done = make_job("demo.noop")
    wait_for(lambda: QueueJob.objects.filter(status__in=[JobStatus.FAILED, JobStatus.COMPLETED]).count() == 3,
             message="jobs to finish")

    out, _ = call("retry_jobs", "--type", "demo.fail")
    assert "Requeued 2 job(s)." in out
    for job in failing:
        # Runs again on the same row: a second attempt, failed again (permanent), with more attempts allowed.
        job = wait_for(lambda: QueueJob.objects.filter(pk=job.pk, attempts=2, status=JobStatus.FAILED).first(),
                       message="second attempt")
        assert job.max_attempts == 1 + 3
        assert job.attempt_set.count() == 2
    assert QueueJob.objects.get(pk=done.pk).attempts == 1


@pytest.mark.django_db
def test_retry_jobs_by_ids_reports_wrong_state_and_dry_run() -> None:
    failed = make_job("demo.fail", status=JobStatus.FAILED)
    cancelled = make_job("demo.noop", status=JobStatus.CANCELLED)
    completed = make_job("demo.noop", status=JobStatus.COMPLETED)

    out, _ = call("retry_jobs", "--status", "cancelled", "--dry-run")
    assert "Would requeue 1 job(s)." in out and str(cancelled.id) in out
    assert QueueJob.objects.get(pk=cancelled.pk).status == JobStatus.CANCELLED

    err = io.StringIO()
    with pytest.raises(CommandError, match="2 job"):
        call_command("retry_jobs", str(failed.id), str(completed.id), "nope", stdout=io.StringIO(), stderr=err)
    assert f"{completed.id}: is completed" in err.getvalue() and "nope: no such job" in err.getvalue()
    assert QueueJob.objects.get(pk=failed.pk).status == JobStatus.PENDING
    assert QueueJob.objects.get(pk=completed.pk).status == JobStatus.COMPLETED


@pytest.mark.django_db
def test_retry_jobs_needs_ids_or_filter() -> None:
    with pytest.raises(CommandError, match="nothing to retry"):
        call("retry_jobs")
    with pytest.raises(CommandError, match="not both"):
        call("retry_jobs", str(uuid.uuid4()), "--type", "demo.fail")


@pytest.mark.django_db
def test_cancel_job_waiting_active_and_finished() -> None:
    waiting = make_job("demo.noop")
    active = make_job("demo.sleep", status=JobStatus.ACTIVE)
    out, _ = call("cancel_job", str(waiting.id), str(active.id))
    assert f"{waiting.id}: cancelled" in out and f"{active.id}: cancel requested" in out
    assert QueueJob.objects.get(pk=waiting.pk).status == JobStatus.CANCELLED
    assert QueueJob.objects.get(pk=active.pk).cancel_requested

    err = io.StringIO()
    with pytest.raises(CommandError, match="2 of 2 job") as info:
        call_command("cancel_job", str(waiting.id), str(uuid.uuid4()), stdout=io.StringIO(), stderr=err)
    assert info.value.returncode == 1
    assert "only waiting or active jobs can be cancelled" in err.getvalue()
    assert "no such job" in err.getvalue()


# --- queues -------------------------------------------------------------------------


@pytest.mark.django_db
def test_pause_and_resume_queue() -> None:
    assert call("pause_queue", "email")[0].strip() == "queue email paused"
    assert QueueState.objects.get(name="email").paused
    assert call("resume_queue", "email")[0].strip() == "queue email resumed"
    assert not QueueState.objects.get(name="email").paused
    for command in ("pause_queue", "resume_queue"):
        with pytest.raises(CommandError, match=r"unknown queue 'nope'; known: default, ai, email"):
            call(command, "nope")


@pytest.mark.django_db
def test_queue_stats_table_and_json() -> None:
    make_job("demo.noop")
    make_job("demo.noop", status=JobStatus.FAILED)
    call("pause_queue", "email")
    out, _ = call("queue_stats")
    header, _rule, *rows = out.splitlines()
    assert header.split()[:4] == ["queue", "pending", "scheduled", "active"]
    default = next(row.split() for row in rows if row.startswith("default "))
    assert default[1] == "1" and default[6] == "1"  # pending, failed
    assert next(row for row in rows if row.startswith("email ")).split()[8] == "yes"
    data = {q["name"]: q for q in json.loads(call("queue_stats", "--json")[0])}
    assert data["default"]["counts"]["pending"] == 1 and data["email"]["paused"] is True
    assert data["default"]["oldest_pending_age"] >= 0 and data["ai"]["oldest_pending_age"] is None


# --- tokens and demo ------------------------------------------------------------------


@pytest.mark.django_db
def test_create_api_token_prints_key_that_authenticates() -> None:
    user = get_user_model().objects.create_user("alice", password="x", is_staff=True)
    out, err = call("create_api_token", "alice", "--name", "ci")
    key = out.splitlines()[-1]
    assert api_token_authenticate(key) == user
    assert "ci" in err and key not in err
    assert ApiToken.objects.get(user=user).name == "ci"
    with pytest.raises(CommandError, match="no user named 'bob'"):
        call("create_api_token", "bob")


@pytest.mark.django_db
def test_bootstrap_demo_is_idempotent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_PASSWORD", "s3cret")
    first, _ = call("bootstrap_demo")
    monkeypatch.setenv("DEMO_PASSWORD", "other")
    second, _ = call("bootstrap_demo")
    user = get_user_model().objects.get(username="admin")
    assert user.is_staff and user.is_superuser and user.check_password("s3cret")
    assert get_user_model().objects.count() == 1
    assert "created superuser 'admin'" in first and "user 'admin' exists: left as it is" in second
    # The token is made with the user, printed alone on the last line; a second run makes none.
    assert api_token_authenticate(first.splitlines()[-1]) == user
    assert not second.splitlines()[-1].startswith("jq_")
    assert ApiToken.objects.filter(user=user, name="demo").count() == 1
    types = sorted(QueueJob.objects.values_list("type", flat=True))
    assert types == ["ai.summarize", "demo.flaky", "demo.sleep", "email.send", "indexing.reindex"]
    assert "enqueued" not in second  # a second run adds no jobs, even once the first ones finished
    QueueJob.objects.update(status="completed")
    call("bootstrap_demo")
    assert QueueJob.objects.count() == 5
    assert QueueJob.objects.get(type="demo.flaky").payload["failures"] == 1
    assert QueueJob.objects.get(type="email.send").payload["to"] == ["demo@example.com"]

    out, _ = call("bootstrap_demo", "--username", "other", "--password", "pw", "--no-jobs")
    assert get_user_model().objects.get(username="other").check_password("pw")
    assert QueueJob.objects.count() == 5 and "enqueued" not in out


@pytest.mark.django_db
def test_bootstrap_demo_never_changes_an_existing_users_password_or_rights() -> None:
    """`make run` pointed at a real database whose "admin" is somebody's account (issue 11, finding 16)."""
    real = get_user_model().objects.create_user("admin", password="their-own-pw", is_staff=True)
    out, _ = call("bootstrap_demo", "--password", "admin", "--no-jobs")
    real.refresh_from_db()
    assert real.check_password("their-own-pw") and not real.check_password("admin")
    assert real.is_staff and not real.is_superuser and real.is_active
    assert not ApiToken.objects.filter(user=real).exists()
    assert "user 'admin' exists: left as it is" in out and "jq_" not in out


@pytest.mark.django_db(transaction=True)
def test_bootstrap_demo_does_nothing_with_demo_0(processes: Processes) -> None:
    proc = subprocess.run([sys.executable, "manage.py", "bootstrap_demo"], cwd=ROOT, capture_output=True, text=True,
                          env=processes.env(DEMO="0"), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "DEMO=0: no demo superuser, API token or jobs"
    assert not get_user_model().objects.exists() and not QueueJob.objects.exists()


def test_commands_take_a_unique_id_prefix_and_list_the_candidates_of_an_ambiguous_one(db: None) -> None:
    first = QueueJob.objects.get(pk=make_job().pk)
    QueueJob.objects.filter(pk=first.pk).update(id=uuid.UUID("053a8a51-0000-4000-8000-000000000001"))
    twin = make_job()
    QueueJob.objects.filter(pk=twin.pk).update(id=uuid.UUID("053a8a51-ffff-4000-8000-000000000002"))
    lone = make_job()
    QueueJob.objects.filter(pk=lone.pk).update(id=uuid.UUID("7777aaaa-0000-4000-8000-000000000003"))

    out, _ = call("job_status", "7777aaaa")
    assert "7777aaaa-0000-4000-8000-000000000003" in out
    with pytest.raises(CommandError) as ambiguous:
        call("job_status", "053a8a51")
    assert "more than one job" in str(ambiguous.value)
    assert "053a8a51-0000-4000-8000-000000000001" in str(ambiguous.value)
    assert "053a8a51-ffff-4000-8000-000000000002" in str(ambiguous.value)
    with pytest.raises(CommandError, match="give at least 6 characters"):
        call("job_status", "0535")
    call("cancel_job", "7777aa")
    assert QueueJob.objects.get(pk="7777aaaa-0000-4000-8000-000000000003").status == "cancelled"
