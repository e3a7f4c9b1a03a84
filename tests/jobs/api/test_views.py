"""The JSON API through Django's test client: shapes, validation, auth, pagination.

These need no worker: enqueued jobs stay in PostgreSQL (the test transaction
never commits, so nothing reaches Redis). Flows that need a real worker
process are in test_api_worker.py.
"""
from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from django.utils import timezone

from jobs.api.tokens import api_token_create
from jobs.core.states import JobStatus
from jobs.models import JobSource, QueueJob

ALL_PERMISSIONS = ("view_queuejob", "add_queuejob", "cancel_queuejob", "retry_queuejob", "pause_queue")


# --- Helpers (also used by test_api_worker.py) -------------------------------------


def make_user(username: str, *permissions: str, staff: bool = True) -> User:
    """A staff user (the API, like the dashboard, is for staff) holding ``permissions`` of the jobs app."""
    user = User.objects.create_user(username, is_staff=staff)  # no password: hashing one costs ~0.2 s a test
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="jobs", codename__in=permissions))
    return user


def bearer_client(user: User, token_name: str = "ci", **kwargs: Any) -> Client:
    _, key = api_token_create(user=user, name=token_name)
    return Client(headers={"authorization": f"Bearer {key}"}, **kwargs)


def post_json(client: Client, path: str, data: Any = None) -> Any:
    body = "" if data is None else (data if isinstance(data, (str, bytes)) else json.dumps(data))
    return client.post(path, body, content_type="application/json")


def fields(response: Any) -> list[str]:
    return [err["field"] for err in response.json()["detail"]]


# --- Fixtures ------------------------------------------------------------------


@pytest.fixture
def operator(db: None) -> User:
    return make_user("operator", *ALL_PERMISSIONS)


@pytest.fixture
def api(operator: User) -> Client:
    """A bearer-token client holding every jobs permission."""
    return bearer_client(operator)


@pytest.fixture
def session(operator: User) -> Client:
    """A logged-in browser session (CSRF not enforced, as Django's test client does by default)."""
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def viewer_api(db: None) -> Client:
    return bearer_client(make_user("viewer", "view_queuejob"), token_name="viewer")


def enqueue(client: Client, type: str = "demo.noop", **fields: Any) -> dict:
    response = post_json(client, "/api/jobs", {"type": type, **fields})
    assert response.status_code == 202, response.content
    return response.json()


# --- Creating jobs -------------------------------------------------------------


def test_post_job_returns_202_with_status_url_and_records_the_caller(api: Client, operator: User) -> None:
    response = post_json(api, "/api/jobs", {"type": "demo.sleep", "payload": {"seconds": 0.1}, "priority": 3,
                                            "correlation_id": "req-1", "max_attempts": 2, "timeout": 5})
    assert response.status_code == 202
    body = response.json()
    assert body == {"id": body["id"], "status": "pending", "status_url": f"/api/jobs/{body['id']}", "warnings": []}
    job = QueueJob.objects.get(pk=body["id"])
    assert (job.type, job.queue, job.priority, job.max_attempts, job.timeout) == ("demo.sleep", "default", 3, 2, 5)
    assert job.payload == {"seconds": 0.1, "steps": 5}
    assert (job.source, job.source_detail, job.created_by) == (JobSource.API, "ci", operator)
    assert job.correlation_id == "req-1"


def test_session_caller_is_recorded_as_session(session: Client, operator: User) -> None:
    job = QueueJob.objects.get(pk=enqueue(session)["id"])
    assert (job.source, job.source_detail, job.created_by) == (JobSource.API, "session", operator)


def test_delay_and_run_at_schedule_the_job(api: Client) -> None:
    delayed = QueueJob.objects.get(pk=enqueue(api, delay=60)["id"])
    assert delayed.status == JobStatus.SCHEDULED
    assert 55 < (delayed.run_at - timezone.now()).total_seconds() <= 60
    at = (timezone.now() + timedelta(hours=1)).replace(microsecond=0)
    body = enqueue(api, run_at=at.astimezone(timezone.get_fixed_timezone(120)).isoformat())
    assert body["status"] == "scheduled"
    assert QueueJob.objects.get(pk=body["id"]).run_at == at
    # Python accepts offsets PostgreSQL does not (beyond ±15:59); stored in UTC they are fine.
    body = enqueue(api, run_at="2030-01-01T00:00:00+23:59")
    assert QueueJob.objects.get(pk=body["id"]).run_at.isoformat() == "2029-12-31T00:01:00+00:00"


def test_duplicate_unique_key_returns_200_with_the_live_job(api: Client) -> None:
    first = enqueue(api, unique_key="report:2024-05")
    again = post_json(api, "/api/jobs", {"type": "demo.noop", "unique_key": "report:2024-05"})
    assert again.status_code == 200
    assert again.json() == first
    assert QueueJob.objects.filter(unique_key="report:2024-05").count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "no.such.type"}, "type"),
        ({"type": "ai.summarize", "payload": {"text": 5}}, "payload.text"),
        ({"type": "ai.summarize", "payload": {}}, "payload.text"),
        ({"type": "ai.summarize", "payload": {"text": "ok", "max_sentences": 10**30}}, "payload.max_sentences"),
        ({"type": "ai.summarize", "payload": {"text": "nul \x00 here"}}, "payload.text"),
        ({"type": "ai.summarize", "payload": {"text": "ok", "nested": [{"k\x00": 1}]}}, "payload.nested.0"),
        ({"type": "demo.noop", "payload": [1, 2]}, "payload"),
        ({"type": "demo.noop", "payload": "text"}, "payload"),
        ({"type": "demo.noop", "priority": 42}, "priority"),
        ({"type": "demo.noop", "priority": -1}, "priority"),
        ({"type": "demo.noop", "priority": True}, "priority"),
        ({"type": "demo.noop", "priority": "5"}, "priority"),
        ({"type": "demo.noop", "priority": 10**40}, "priority"),
        ({"type": "demo.noop", "delay": -1}, "delay"),
        ({"type": "demo.noop", "delay": 1e300}, "delay"),
        ({"type": "demo.noop", "delay": "soon"}, "delay"),
        ({"type": "demo.noop", "delay": 5, "run_at": "2030-01-01T00:00:00Z"}, "delay"),
        ({"type": "demo.noop", "run_at": "2030-01-01T00:00:00"}, "run_at"),
        ({"type": "demo.noop", "run_at": "tomorrow"}, "run_at"),
        ({"type": "demo.noop", "run_at": "9999-12-31T23:59:59-14:00"}, "run_at"),
        ({"type": "demo.noop", "run_at": "0001-01-01T00:00:00+05:00"}, "run_at"),
        ({"type": "demo.noop", "run_at": 99999999999}, "run_at"),
        ({"type": "demo.noop", "queue": "nowhere"}, "queue"),
        ({"type": "demo.noop", "max_attempts": 0}, "max_attempts"),
        ({"type": "demo.noop", "max_attempts": 10**30}, "max_attempts"),
        ({"type": "demo.noop", "timeout": 0}, "timeout"),
        ({"type": "demo.noop", "unique_key": ""}, "unique_key"),
        ({"type": "demo.noop", "unique_key": "x" * 201}, "unique_key"),
        ({"type": "demo.noop", "correlation_id": "c" * 101}, "correlation_id"),
        ({"type": "demo.noop", "correlation_id": "a\x00b"}, "correlation_id"),
        ({"type": "demo\x00noop"}, "type"),
        ({"type": 7}, "type"),
        ({"type": "demo.noop", "priorty": 1}, "priorty"),
        ({}, "type"),
    ],
)
def test_invalid_job_is_422_naming_the_field(api: Client, body: dict, field: str) -> None:
    response = post_json(api, "/api/jobs", body)
    assert response.status_code == 422, response.content
    assert field in fields(response)
    assert all(err["message"] and err["type"] for err in response.json()["detail"])
    assert not QueueJob.objects.exists()


def test_unknown_type_lists_the_known_ones(api: Client) -> None:
    detail = post_json(api, "/api/jobs", {"type": "nope"}).json()["detail"]
    assert detail[0]["field"] == "type" and "demo.noop" in detail[0]["message"]


@pytest.mark.parametrize(
    "raw",
    [
        '{"type": "demo.noop"',
        "not json",
        '{"type": "demo.noop", "delay": NaN}',
        '{"type": "demo.noop", "delay": Infinity}',
        '{"type": "demo.noop", "delay": 1e400}',
        '{"type": "demo.noop", "priority": 1' + "0" * 5000 + "}",
        b"\xff\xfe\x00garbage",
        "[" * 100_000,
    ],
)
def test_malformed_json_is_400_with_a_clear_message(api: Client, raw: str | bytes) -> None:
    response = post_json(api, "/api/jobs", raw)
    assert response.status_code == 400, response.content
    assert response.json()["detail"].startswith("malformed JSON body")


@pytest.mark.parametrize("raw", ["[1, 2]", '"demo.noop"', "42", "null", "true", ""])
def test_non_object_body_is_rejected(api: Client, raw: str) -> None:
    response = post_json(api, "/api/jobs", raw)
    assert response.status_code == 422, response.content
    assert fields(response) == ["body"]


WEIRD_VALUES: list[Any] = [None, True, -1, 0, 1.5, 10**20, -(10**20), 1e308, -1e308, "", "x" * 5000, "\x00",
                           "\ud800", "2030-01-01", "2030-01-01T00:00:00+99:00", [], {}, [None], {"\x00": 1}]


def test_no_bad_value_in_any_field_is_a_server_error(api: Client, settings: Any) -> None:
    """Every request field, and payload fields, given values of the wrong kind or range: 4xx, never 500."""
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, "enqueue": "1000/1000"}  # hundreds of requests
    base = {"type": "demo.sleep", "payload": {"seconds": 0}}
    request_fields = ["type", "payload", "queue", "priority", "delay", "run_at", "unique_key", "max_attempts",
                      "timeout", "correlation_id"]
    cases = [{**base, name: value} for name in request_fields for value in WEIRD_VALUES]
    cases += [{"type": "ai.summarize", "payload": {name: value}} for name in ("text", "max_sentences")
              for value in WEIRD_VALUES]
    for body in cases:
        response = post_json(api, "/api/jobs", body)
        assert response.status_code in (200, 202, 403, 422), (body, response.content)
    for name in ("status", "queue", "type", "q", "limit", "cursor"):
        for value in ("", "\x00", "x" * 5000, "-1", "1e400", "%", "\u2603"):
            response = api.get("/api/jobs", {name: value})
            assert response.status_code in (200, 400, 422), (name, value, response.content)


def test_oversized_body_is_413(api: Client) -> None:
    response = post_json(api, "/api/jobs", {"type": "demo.noop", "payload": {"x": "a" * 3_000_000}})
    assert response.status_code == 413
    assert response.json() == {"detail": "request body too large"}


def test_lone_surrogate_in_payload_is_422(api: Client) -> None:
    response = post_json(api, "/api/jobs", '{"type": "ai.summarize", "payload": {"text": "\\ud800"}}')
    assert response.status_code == 422
    assert fields(response) == ["payload.text"]


# --- Reading jobs --------------------------------------------------------------


def test_get_job_has_the_public_shape(api: Client) -> None:
    job_id = enqueue(api, "ai.summarize", payload={"text": "One. Two."}, correlation_id="c-9")["id"]
    body = api.get(f"/api/jobs/{job_id}").json()
    assert set(body) >= {"id", "type", "queue", "status", "progress", "result", "error", "attempts",
                         "max_attempts", "created_at", "started_at", "finished_at", "run_at", "correlation_id"}
    assert body["id"] == job_id and body["queue"] == "ai" and body["status"] == "pending"
    assert body["progress"] == {"percent": 0, "stage": "", "message": ""}
    assert body["correlation_id"] == "c-9" and body["error"] is None and body["started_at"] is None
    created = QueueJob.objects.get(pk=job_id).created_at
    assert abs(timezone.datetime.fromisoformat(body["created_at"]) - created) < timedelta(milliseconds=1)


@pytest.mark.parametrize("job_id", [str(uuid.uuid4()), "not-a-uuid", "123", "%00", "x" * 500])
def test_unknown_or_malformed_id_is_404(api: Client, job_id: str) -> None:
    for response in (
        api.get(f"/api/jobs/{job_id}"),
        api.get(f"/api/jobs/{job_id}/attempts"),
        post_json(api, f"/api/jobs/{job_id}/cancel"),
        post_json(api, f"/api/jobs/{job_id}/retry"),
    ):
        assert response.status_code == 404, response.content
        assert response.json() == {"detail": "job not found"}


def test_attempts_of_a_job_not_yet_run_is_empty(api: Client) -> None:
    assert api.get(f"/api/jobs/{enqueue(api)['id']}/attempts").json() == []


def _make_job(type: str = "demo.noop", *, payload: dict | None = None, status: str = JobStatus.PENDING,
              queue: str = "default", error: str = "") -> QueueJob:
    return QueueJob.objects.create(type=type, queue=queue, payload=payload or {}, status=status, timeout=10,
                                   error=error)


def test_list_filters_and_search(api: Client) -> None:
    summary = _make_job("ai.summarize", queue="ai", payload={"text": "The quarterly Flamingo report"})
    failed = _make_job("demo.fail", status=JobStatus.FAILED, error="RuntimeError: disk quota exceeded")
    noop = _make_job()

    def ids(query: str) -> list[str]:
        response = api.get(f"/api/jobs{query}")
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()["items"]]

    assert ids("") == [str(noop.id), str(failed.id), str(summary.id)]  # newest first
    assert ids("?status=failed") == [str(failed.id)]
    assert ids("?queue=ai") == [str(summary.id)]
    assert ids("?type=demo.noop") == [str(noop.id)]
    assert ids("?q=flamingo") == [str(summary.id)]  # payload text, any case
    assert ids("?q=quota+exceeded") == [str(failed.id)]  # error text
    assert ids(f"?q={noop.id}") == [str(noop.id)]  # id
    assert ids("?q=flamingo&status=failed") == []
    assert ids("?type=no.such.type") == []


@pytest.mark.parametrize(
    ("query", "field"),
    [("status=exploded", "status"), ("queue=nowhere", "queue"), ("limit=0", "limit"), ("limit=1000", "limit"),
     ("limit=ten", "limit"), ("limit=1e99", "limit"), ("q=a%00b", "q"), ("type=a%00b", "type"),
     ("q=" + "x" * 201, "q")],
)
def test_invalid_list_filter_is_422(api: Client, query: str, field: str) -> None:
    response = api.get(f"/api/jobs?{query}")
    assert response.status_code == 422, response.content
    assert fields(response) == [field]


def _cursor(raw: str) -> str:
    """A cursor of the list's sort order (newest first) around ``raw`` ("time|id")."""
    return base64.urlsafe_b64encode(f"-created|{raw}".encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    ["garbage", "%00", "=" * 5, "x" * 201, _cursor("foo|bar"), _cursor("2024-01-01T00:00:00|" + "0" * 32),
     _cursor("0001-01-01T00:00:00+05:00|" + "0" * 32), _cursor("2024-01-01T00:00:00Z|not-a-uuid")],
)
def test_invalid_cursor_is_400(api: Client, cursor: str) -> None:
    response = api.get(f"/api/jobs?cursor={cursor}")
    assert response.status_code == 400, response.content
    assert "cursor" in response.json()["detail"]


def test_cursor_with_an_offset_postgresql_refuses_still_works(api: Client) -> None:
    _make_job()
    response = api.get("/api/jobs", {"cursor": _cursor(f"2999-01-01T00:00:00+23:59|{uuid.uuid4()}")})
    assert response.status_code == 200 and len(response.json()["items"]) == 1


def test_cursor_pagination_returns_every_row_once(api: Client) -> None:
    jobs = [_make_job() for _ in range(23)]
    # Seven jobs share one created_at: the id must break the tie without losing or repeating any.
    tied = timezone.now() - timedelta(minutes=1)
    QueueJob.objects.filter(pk__in=[job.pk for job in jobs[5:12]]).update(created_at=tied)
    _make_job(status=JobStatus.FAILED)  # filtered out below

    seen: list[str] = []
    cursor, pages = None, 0
    while True:
        response = api.get("/api/jobs", {"limit": 5, "status": "pending", **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.content
        page = response.json()
        assert len(page["items"]) <= 5
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = QueueJob.objects.filter(status="pending").order_by("-created_at", "-id").values_list("id", flat=True)
    assert seen == [str(job_id) for job_id in expected]
    assert len(seen) == len(set(seen)) == 23 and pages == 5


def test_a_full_last_page_has_no_next_cursor(api: Client) -> None:
    for _ in range(4):
        _make_job()
    page = api.get("/api/jobs?limit=4").json()
    assert len(page["items"]) == 4 and page["next_cursor"] is None


# --- Cancel and retry ------------------------------------------------------------


def test_cancel_pending_job_then_cancel_again_is_409(api: Client) -> None:
    job_id = enqueue(api)["id"]
    response = post_json(api, f"/api/jobs/{job_id}/cancel")
    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    again = post_json(api, f"/api/jobs/{job_id}/cancel")
    assert again.status_code == 409
    assert "cancelled" in again.json()["detail"]


def test_cancel_active_job_asks_it_to_stop(api: Client) -> None:
    job = _make_job(status=JobStatus.ACTIVE)
    response = post_json(api, f"/api/jobs/{job.id}/cancel")
    assert response.status_code == 202 and response.json()["status"] == "active"
    job.refresh_from_db()
    assert job.cancel_requested


def test_retry_pending_job_is_409_and_cancelled_job_can_be_retried(api: Client) -> None:
    job_id = enqueue(api)["id"]
    conflict = post_json(api, f"/api/jobs/{job_id}/retry")
    assert conflict.status_code == 409 and "pending" in conflict.json()["detail"]
    post_json(api, f"/api/jobs/{job_id}/cancel")
    response = post_json(api, f"/api/jobs/{job_id}/retry")
    assert response.status_code == 202 and response.json()["status"] == "pending"


# --- Queues and job types ----------------------------------------------------------


def test_queues_list_counts_per_state(api: Client) -> None:
    _make_job(queue="email")
    _make_job(queue="email", status=JobStatus.FAILED)
    queues = {q["name"]: q for q in api.get("/api/queues").json()}
    assert set(queues) >= {"default", "ai", "email", "indexing"}
    email = queues["email"]
    assert email["counts"]["pending"] == 1 and email["counts"]["failed"] == 1
    assert set(email["counts"]) == set(JobStatus.values)
    assert email["paused"] is False and email["concurrency"] == 10
    assert email["oldest_pending_age"] >= 0 and queues["ai"]["oldest_pending_age"] is None


def test_pause_and_resume_toggle_the_flag(api: Client) -> None:
    paused = post_json(api, "/api/queues/email/pause")
    assert paused.status_code == 200 and paused.json()["name"] == "email" and paused.json()["paused"] is True
    assert {q["name"]: q["paused"] for q in api.get("/api/queues").json()}["email"] is True
    resumed = post_json(api, "/api/queues/email/resume")
    assert resumed.status_code == 200 and resumed.json()["paused"] is False


@pytest.mark.parametrize("name", ["nowhere", "%00", "default%20"])
def test_pause_unknown_queue_is_404(api: Client, name: str) -> None:
    for action in ("pause", "resume"):
        response = post_json(api, f"/api/queues/{name}/{action}")
        assert response.status_code == 404 and response.json() == {"detail": "queue not found"}


def test_job_types_carry_their_payload_schema(api: Client) -> None:
    types = {t["name"]: t for t in api.get("/api/job-types").json()}
    assert {"demo.noop", "demo.sleep", "demo.fail", "demo.flaky", "ai.summarize"} <= set(types)
    summarize = types["ai.summarize"]
    assert summarize["queue"] == "ai" and summarize["description"]
    assert summarize["payload_schema"]["required"] == ["text"]
    assert summarize["payload_schema"]["properties"]["max_sentences"]["maximum"] == 50


# --- Authentication and permissions -------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/jobs"), ("post", "/api/jobs"), ("get", f"/api/jobs/{uuid.uuid4()}"), ("get", "/api/queues"),
     ("post", "/api/queues/default/pause"), ("get", "/api/job-types")],
)
def test_anonymous_is_401(db: None, method: str, path: str) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.get(path) if method == "get" else post_json(client, path, {"type": "demo.noop"})
    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized"}


def test_wrong_bearer_token_is_401_even_with_a_session(session: Client) -> None:
    response = session.get("/api/jobs", headers={"authorization": "Bearer jq_wrong"})
    assert response.status_code == 401
    assert "token" in response.json()["detail"]


def test_token_of_inactive_user_is_401(operator: User, api: Client) -> None:
    User.objects.filter(pk=operator.pk).update(is_active=False)
    assert api.get("/api/jobs").status_code == 401


def test_missing_permission_is_403(viewer_api: Client) -> None:
    assert viewer_api.get("/api/jobs").status_code == 200
    job = _make_job()
    for path, body in [("/api/jobs", {"type": "demo.noop"}), (f"/api/jobs/{job.id}/cancel", None),
                       (f"/api/jobs/{job.id}/retry", None), ("/api/queues/default/pause", None),
                       ("/api/queues/default/resume", None)]:
        response = post_json(viewer_api, path, body)
        assert response.status_code == 403, path
        assert "permission" in response.json()["detail"]
    nobody = bearer_client(make_user("nobody"), token_name="nobody")
    assert nobody.get("/api/jobs").status_code == 403
    assert nobody.get(f"/api/jobs/{job.id}").status_code == 403


def test_permission_is_checked_before_the_body(viewer_api: Client) -> None:
    assert post_json(viewer_api, "/api/jobs", "not json").status_code == 403


def test_superuser_has_every_permission(db: None) -> None:
    admin = User.objects.create_superuser("root", password=None)
    client = bearer_client(admin)
    assert post_json(client, "/api/jobs", {"type": "demo.noop"}).status_code == 202
    assert post_json(client, "/api/queues/default/pause").status_code == 200


def test_session_post_needs_a_csrf_token(operator: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.get("/api/jobs").status_code == 200  # safe methods need no token
    refused = post_json(client, "/api/jobs", {"type": "demo.noop"})
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert not QueueJob.objects.exists()

    secret = _get_new_csrf_string()
    client.cookies["csrftoken"] = secret
    accepted = client.post("/api/jobs", json.dumps({"type": "demo.noop"}), content_type="application/json",
                           headers={"x-csrftoken": secret})
    assert accepted.status_code == 202


def test_bearer_token_needs_no_csrf_token(operator: User) -> None:
    client = bearer_client(operator, enforce_csrf_checks=True)
    assert post_json(client, "/api/jobs", {"type": "demo.noop"}).status_code == 202


# --- Documentation -----------------------------------------------------------------


def test_openapi_schema_and_docs_are_served(db: None) -> None:
    client = Client()
    schema = client.get("/api/openapi.json").json()
    assert {"/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/attempts", "/api/jobs/{job_id}/cancel",
            "/api/jobs/{job_id}/retry", "/api/queues", "/api/queues/{name}/pause", "/api/queues/{name}/resume",
            "/api/job-types"} <= set(schema["paths"])
    assert set(schema["paths"]["/api/jobs"]["post"]["responses"]) >= {"200", "202", "422"}
    assert {"BearerTokenAuth", "SessionPermissionAuth"} <= set(schema["components"]["securitySchemes"])
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


# --- What a caller may see (jobs/core/access.py) ---------------------------------------


def test_cancel_retry_and_pause_answer_a_caller_without_view_access_only_the_outcome(db: None) -> None:
    actor = bearer_client(make_user("actor", "cancel_queuejob", "retry_queuejob", "pause_queue"), token_name="act")
    job = _make_job(payload={"secret": "s3cr3t-payload"})
    cancelled = post_json(actor, f"/api/jobs/{job.id}/cancel")
    assert cancelled.status_code == 202
    assert cancelled.json() == {"id": str(job.id), "status": "cancelled"}
    retried = post_json(actor, f"/api/jobs/{job.id}/retry")
    assert retried.status_code == 202 and retried.json() == {"id": str(job.id), "status": "pending"}
    assert b"s3cr3t" not in cancelled.content + retried.content
    paused = post_json(actor, "/api/queues/default/pause")
    assert paused.status_code == 200 and paused.json() == {"name": "default", "paused": True}
    assert actor.get(f"/api/jobs/{job.id}").status_code == 403


def test_a_caller_with_view_access_gets_the_whole_job_back(api: Client) -> None:
    job = _make_job(payload={"n": 1})
    body = post_json(api, f"/api/jobs/{job.id}/cancel").json()
    assert body["payload"] == {"n": 1} and body["type"] == "demo.noop"
    assert post_json(api, "/api/queues/default/pause").json()["counts"]["cancelled"] == 1
