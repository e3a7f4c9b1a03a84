"""Payload typos are refused, not silently dropped (issue 12, item 2)."""
from __future__ import annotations

import json

import pydantic
import pytest
from django.test import Client

from jobs.api.tokens import api_token_create
from jobs.core.registry import JobType, strict_payload
from jobs.models import QueueJob
from tests.conftest import make_user


@pytest.fixture
def api(db: None) -> Client:
    _, key = api_token_create(user=make_user("caller", perms=("view_queuejob", "add_queuejob")), name="caller")
    return Client(headers={"authorization": f"Bearer {key}"})


def test_an_unknown_payload_field_is_a_422_naming_it_and_the_known_ones(api: Client) -> None:
    body = {"type": "ai.summarize", "payload": {"text": "One. Two. Three.", "max_sentence": 1}}
    response = api.post("/api/jobs", json.dumps(body), content_type="application/json")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["field"] == "payload.max_sentence" and error["type"] == "extra_forbidden"
    assert "known fields: text, max_sentences" in error["message"]
    colour = api.post("/api/jobs", json.dumps({"type": "demo.noop", "payload": {"colour": "red"}}),
                      content_type="application/json")
    assert colour.status_code == 422 and colour.json()["detail"][0]["field"] == "payload.colour"
    assert not QueueJob.objects.exists()


def test_a_type_may_opt_out_by_choosing_extra_itself() -> None:
    class Lenient(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="ignore")
        a: int = 1

    class Plain(pydantic.BaseModel):
        a: int = 1

    assert strict_payload(Lenient) is Lenient
    lenient = JobType(name="t.lenient", handler=print, payload_model=strict_payload(Lenient))
    assert lenient.validate({"a": 2, "b": 3}).a == 2
    strict = JobType(name="t.strict", handler=print, payload_model=strict_payload(Plain))
    with pytest.raises(Exception, match="invalid payload"):
        strict.validate({"a": 2, "b": 3})
