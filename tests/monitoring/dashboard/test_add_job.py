"""The add-job form generated from a job type's pydantic model, and "run again with edited payload"."""
from __future__ import annotations

import enum
import re
from typing import Any, Literal

import pytest
from django import forms
from django.contrib.auth.models import Permission
from django.test import Client
from pydantic import BaseModel, EmailStr, Field

from jobs.core.registry import JobType, get_job_type
from jobs.engine.enqueue import job_enqueue
from jobs.models import AuditEntry, QueueJob
from monitoring.dashboard.payload_form import AddJobForm, ListField, PrettyJSONField

pytestmark = pytest.mark.django_db


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Everything(BaseModel):
    title: str = Field(max_length=80, description="Shown in the subject")
    body: str = Field("", description="Long text")
    count: int = Field(3, ge=1, le=10)
    ratio: float = 0.5
    urgent: bool = False
    to: list[EmailStr] = Field(default_factory=list)
    tags: list[str] = []
    mode: Literal["fast", "safe"] = "safe"
    colour: Colour = Colour.RED
    contact: EmailStr | None = None
    extra: dict[str, Any] = Field(default_factory=dict, description="Anything else")


def form_for(model: type[BaseModel], data: dict | None = None) -> AddJobForm:
    job_type = JobType(name="test.everything", handler=lambda ctx: None, payload_model=model)
    return AddJobForm(job_type, data)


def test_fields_follow_the_model() -> None:
    form = form_for(Everything)
    f = form.fields
    assert isinstance(f["title"], forms.CharField) and f["title"].max_length == 80 and f["title"].required
    assert f["title"].help_text == "Shown in the subject"
    assert isinstance(f["body"].widget, forms.Textarea) and not f["body"].required
    assert isinstance(f["count"], forms.IntegerField) and (f["count"].min_value, f["count"].max_value) == (1, 10)
    assert f["count"].initial == 3 and "1 to 10" in f["count"].help_text
    assert isinstance(f["ratio"], forms.FloatField) and f["ratio"].initial == 0.5
    assert isinstance(f["urgent"], forms.BooleanField)
    assert isinstance(f["to"], ListField) and f["to"].email and "one per line" in f["to"].help_text
    assert isinstance(f["tags"], ListField) and not f["tags"].email
    assert [c[0] for c in f["mode"].choices] == ["fast", "safe"] and f["mode"].initial == "safe"
    assert [c[0] for c in f["colour"].choices] == ["red", "blue"]
    assert isinstance(f["contact"], forms.EmailField) and not f["contact"].required
    assert isinstance(f["extra"], PrettyJSONField) and "JSON" in f["extra"].help_text
    assert list(form.fields)[-5:] == ["job_queue", "job_priority", "job_timeout", "job_delay", "job_unique_key"]


def test_cleaned_payload_leaves_empty_optional_fields_to_the_models_defaults() -> None:
    form = form_for(Everything, {"title": "Hi", "count": "4", "ratio": "0.5", "to": "a@example.com\nb@example.com",
                                 "mode": "fast", "colour": "blue", "extra": '{"k": [1, 2]}', "job_queue": "default"})
    assert form.is_valid(), form.errors
    assert form.payload() == {"title": "Hi", "count": 4, "ratio": 0.5, "urgent": False,
                              "to": ["a@example.com", "b@example.com"], "tags": [], "mode": "fast",
                              "colour": "blue", "extra": {"k": [1, 2]}}
    Everything.model_validate(form.payload())
    bad = form_for(Everything, {"title": "Hi", "to": "not-an-email", "extra": "{oops", "job_queue": "default"})
    assert not bad.is_valid() and set(bad.errors) >= {"to", "extra"}


def test_the_job_types_own_validation_errors_appear_next_to_their_fields(operator: Any) -> None:
    client = Client()
    client.force_login(operator)
    page = client.get("/admin/queues/add/indexing.reindex/").content.decode()
    assert 'name="entity_type"' in page and "One of: " in page  # help text from the Field description
    response = client.post("/admin/queues/add/indexing.reindex/", {
        "entity_type": "Not Allowed!", "entity_id": "7", "language": "english", "job_queue": "indexing"})
    assert response.status_code == 200
    html = response.content.decode()
    row = re.search(r'<div class="row has-error">.*?</div>\s*</div>', html, re.S).group(0)
    assert 'for="id_entity_type"' in row and "String should match pattern" in row
    assert not QueueJob.objects.exists()

    response = client.post("/admin/queues/add/indexing.reindex/", {
        "entity_type": "article", "entity_id": "7", "title": "Hello", "language": "english",
        "job_queue": "indexing", "job_priority": "3", "job_delay": "60", "job_unique_key": "article-7"})
    job = QueueJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/admin/queues/jobs/{job.id}/"
    assert (job.status, job.priority, job.unique_key, job.source, job.created_by) == (
        "scheduled", 3, "article-7", "admin", operator)
    assert job.payload["title"] == "Hello" and job.payload["body"] == ""
    assert AuditEntry.objects.get().object_id == str(job.id)


def test_run_again_prefills_the_form_from_a_job_and_makes_a_new_one(operator: Any) -> None:
    original = job_enqueue(type="email.send", payload={"to": ["a@example.com"], "subject": "First try",
                                                       "body": "hello"}, correlation_id="order-9").job
    operator.user_permissions.add(Permission.objects.get(codename="enqueue_email.send"))
    client = Client()
    client.force_login(operator)
    page = client.get(f"/admin/queues/add/email.send/?from={original.id}").content.decode()
    assert "First try" in page and "a@example.com" in page and "Run again" in page
    response = client.post(f"/admin/queues/add/email.send/?from={original.id}", {
        "to": "a@example.com\nb@example.com", "subject": "Second try", "body": "hello", "job_queue": "email"})
    new = QueueJob.objects.exclude(pk=original.id).get()
    assert response["Location"] == f"/admin/queues/jobs/{new.id}/"
    assert new.payload["to"] == ["a@example.com", "b@example.com"] and new.payload["subject"] == "Second try"
    assert new.correlation_id == "order-9" and new.source_detail == f"run again from {original.id}"
    assert QueueJob.objects.get(pk=original.id).payload["subject"] == "First try"


def test_every_registered_type_gets_a_form() -> None:
    from jobs.core.registry import all_job_types

    for job_type in all_job_types():
        form = AddJobForm(job_type)
        assert form.fields["job_queue"].initial == job_type.queue
    assert isinstance(AddJobForm(get_job_type("notification.webhook")).fields["event"], PrettyJSONField)
