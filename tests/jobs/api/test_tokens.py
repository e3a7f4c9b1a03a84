"""API tokens (finding 13): expiry, revocation, last use, scopes, shown once; through HTTP, the admin and the CLI."""
from __future__ import annotations

import hashlib
import io
import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from jobs.api.tokens import api_token_create
from jobs.models import ApiToken, AuditEntry, QueueJob
from tests.jobs.api.test_views import ALL_PERMISSIONS, make_user, post_json

pytestmark = pytest.mark.django_db


def bearer(key: str) -> Client:
    return Client(headers={"authorization": f"Bearer {key}"})


@pytest.fixture
def operator() -> User:
    return make_user("operator", *ALL_PERMISSIONS)


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password=None))
    return client


def test_an_expired_token_is_refused(operator: User) -> None:
    token, key = api_token_create(user=operator, name="short")
    assert bearer(key).get("/api/jobs").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = bearer(key).get("/api/jobs")
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_tokens_expire_after_api_token_default_days_unless_told(operator: User, settings: Any) -> None:
    settings.API_TOKEN_DEFAULT_DAYS = 30
    default, _ = api_token_create(user=operator)
    assert timedelta(days=29.9) < default.expires_at - timezone.now() <= timedelta(days=30)
    assert api_token_create(user=operator, expires_in_days=0)[0].expires_at is None
    settings.API_TOKEN_DEFAULT_DAYS = 0
    assert api_token_create(user=operator)[0].expires_at is None


def test_last_use_is_recorded(operator: User) -> None:
    token, key = api_token_create(user=operator)
    assert token.last_used_at is None
    bearer(key).get("/api/jobs")
    token.refresh_from_db()
    assert timezone.now() - token.last_used_at < timedelta(seconds=5)


def test_scopes_narrow_what_the_token_may_do(operator: User) -> None:
    job = QueueJob.objects.get(pk=post_json(bearer(api_token_create(user=operator)[1]), "/api/jobs",
                                            {"type": "demo.noop"}).json()["id"])
    reader = bearer(api_token_create(user=operator, scopes=["read"])[1])
    assert reader.get("/api/jobs").status_code == 200
    for path, body in [("/api/jobs", {"type": "demo.noop"}), (f"/api/jobs/{job.id}/cancel", None),
                       ("/api/queues/default/pause", None)]:
        response = post_json(reader, path, body)
        assert response.status_code == 403 and "token scope" in response.json()["detail"], path

    enqueuer = bearer(api_token_create(user=operator, scopes=["enqueue"])[1])
    assert post_json(enqueuer, "/api/jobs", {"type": "demo.noop"}).status_code == 202
    assert enqueuer.get(f"/api/jobs/{job.id}").json()["detail"] == "token scope 'read' required"

    actor = bearer(api_token_create(user=operator, scopes=["act"])[1])
    response = post_json(actor, f"/api/jobs/{job.id}/cancel")
    assert response.status_code == 202
    assert response.json() == {"id": str(job.id), "status": "cancelled"}  # may act, not read: the outcome only


def test_a_scope_never_gives_more_than_the_users_permissions() -> None:
    viewer = make_user("viewer", "view_queuejob")
    client = bearer(api_token_create(user=viewer, scopes=["read", "enqueue", "act"])[1])
    response = post_json(client, "/api/jobs", {"type": "demo.noop"})
    assert response.status_code == 403 and response.json()["detail"] == "permission jobs.add_queuejob required"


def test_admin_creates_a_token_shows_its_key_once_and_lists_it_by_prefix(admin_client: Client,
                                                                        operator: User) -> None:
    response = admin_client.post("/admin/jobs/apitoken/add/", {
        "user": operator.pk, "name": "deploy bot", "scopes": ["read", "enqueue"], "expires_in_days": "7"})
    assert response.status_code == 200, response.content
    html = response.content.decode()
    key = re.search(r'id="api-token-key"[^>]*>(jq_[\w-]+)<', html).group(1)
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]
    token = ApiToken.objects.get()
    assert (token.name, token.scopes, token.prefix) == ("deploy bot", ["read", "enqueue"], key[:10])
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert timedelta(days=6.9) < token.expires_at - timezone.now() <= timedelta(days=7)
    assert bearer(key).get("/api/jobs").status_code == 200

    listing = admin_client.get("/admin/jobs/apitoken/", {"q": key[:7]}).content.decode()
    assert token.prefix in listing and "deploy bot" in listing and key not in listing
    assert key not in admin_client.get(f"/admin/jobs/apitoken/{token.pk}/change/").content.decode()
    assert AuditEntry.objects.get(action="token_create").target == f"token {token.prefix}"


def test_admin_refuses_a_token_for_a_user_who_cannot_use_the_api(admin_client: Client) -> None:
    outsider = make_user("outsider", *ALL_PERMISSIONS, staff=False)
    response = admin_client.post("/admin/jobs/apitoken/add/", {"user": outsider.pk, "name": "x", "scopes": ["read"]})
    assert response.status_code == 200 and "staff status required" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_admin_revoke_action_refuses_the_token_from_its_next_request(admin_client: Client, operator: User) -> None:
    token, key = api_token_create(user=operator, name="leaked")
    kept, kept_key = api_token_create(user=operator, name="kept")
    client = bearer(key)
    assert client.get("/api/jobs").status_code == 200
    response = admin_client.post("/admin/jobs/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert response.status_code == 302
    refused = client.get("/api/jobs")
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    assert bearer(kept_key).get("/api/jobs").status_code == 200
    token.refresh_from_db()
    assert token.state() == "revoked"
    entry = AuditEntry.objects.get(action="token_revoke")
    assert (entry.interface, entry.via, entry.actor, entry.count) == ("admin", "session", "root", 1)
    assert token.prefix in entry.target
    listing = admin_client.get("/admin/jobs/apitoken/", {"state": "revoked"}).content.decode()
    assert token.prefix in listing and kept.prefix not in listing


def call(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_api_token_takes_scopes_and_an_expiry_and_refuses_bad_ones(operator: User) -> None:
    out, err = call("create_api_token", "operator", "--scopes", "read,act", "--expires-in-days", "1")
    key = out.splitlines()[-1]
    token = ApiToken.objects.get()
    assert token.scopes == ["read", "act"] and timedelta(hours=23) < token.expires_at - timezone.now()
    assert "jobs.view_queuejob" in err and "jobs.add_queuejob" not in err and key not in err
    assert post_json(bearer(key), "/api/jobs", {"type": "demo.noop"}).status_code == 403
    with pytest.raises(CommandError, match="unknown scope"):
        call("create_api_token", "operator", "--scopes", "read,admin")
    with pytest.raises(CommandError, match="expires-in-days"):
        call("create_api_token", "operator", "--expires-in-days", "-1")
    make_user("outsider", *ALL_PERMISSIONS, staff=False)
    with pytest.raises(CommandError, match="staff status required"):
        call("create_api_token", "outsider")
    assert ApiToken.objects.count() == 1


def test_revoke_api_token_by_prefix(operator: User) -> None:
    token, key = api_token_create(user=operator, name="old")
    out, _ = call("revoke_api_token", token.prefix)
    assert f"revoked {token.prefix}" in out
    assert bearer(key).get("/api/jobs").status_code == 401
    with pytest.raises(CommandError, match="already revoked"):
        call("revoke_api_token", token.prefix)
    with pytest.raises(CommandError, match="no such token"):
        call("revoke_api_token", "jq_nothere")
    with pytest.raises(CommandError, match="10 characters") as refused:
        call("revoke_api_token", "jq_")  # a part of a prefix would revoke many
    assert refused.value.returncode == 2
