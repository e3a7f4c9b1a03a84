"""Small things a newcomer hit (issue 12, items 7 and 10)."""
from __future__ import annotations

from django.test import Client

from jobs.api.tokens import api_token_create
from tests.conftest import make_user


def test_the_site_root_goes_to_the_dashboard(db: None) -> None:
    response = Client().get("/")
    assert response.status_code == 302 and response["Location"] == "/admin/queues/"


def test_pages_declare_an_icon_so_browsers_do_not_ask_for_favicon_ico(db: None) -> None:
    client = Client()
    client.force_login(make_user("viewer"))
    for page in ("/admin/", "/admin/queues/"):
        assert 'rel="icon"' in client.get(page).content.decode(), page
    assert 'rel="icon"' in Client().get("/admin/login/").content.decode()


def test_a_wrong_method_on_the_api_answers_json(db: None) -> None:
    _, key = api_token_create(user=make_user("reader", perms=("view_queuejob",)), name="reader")
    response = Client(headers={"authorization": f"Bearer {key}"}).get("/api/jobs/bulk")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert response.json() == {"detail": "method GET not allowed here; allowed: POST"}


def test_the_admin_shows_no_second_rq_dashboard(db: None) -> None:
    client = Client()
    client.force_login(make_user("boss", perms=("view_queuejob",)))
    page = client.get("/admin/").content.decode()
    assert "Django-RQ" not in page and "django_rq" not in page and "Queues and jobs" in page
