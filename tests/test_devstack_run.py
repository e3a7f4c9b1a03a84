"""What `make run`'s supervisor (devstack.run) prints and keeps (issue 11, finding 16).

Its banner and start-up lines end up in terminals, screen shares and CI logs:
no password of a server URL may appear there. Its development SECRET_KEY is
random per machine, not written in the repository.
"""
from __future__ import annotations

import stat
from pathlib import Path

import pytest

from devstack import run

DATABASE_URL = "postgres://jobqueue:pg-s3cret@db.internal:5432/jobqueue"
REDIS_URL = "redis://:redis-s3cret@redis.internal:6379/0"


def test_the_banner_masks_the_passwords_of_the_server_urls() -> None:
    text = run.banner(8000, {"DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL}, token="jq_abc")
    assert "s3cret" not in text
    assert "postgres://jobqueue:***@db.internal:5432/jobqueue" in text
    assert "redis://:***@redis.internal:6379/0" in text
    assert "jq_abc" in text and "admin / admin" in text


def test_without_a_new_demo_user_the_banner_promises_no_login() -> None:
    text = run.banner(8000, {"DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL})
    assert "admin / admin" not in text and "created none this time" in text


def test_urls_without_a_password_are_shown_as_they_are() -> None:
    for url in ("postgres://postgres@127.0.0.1:55432/jobqueue", "redis://127.0.0.1:56379/0", "unix:///tmp/r.sock"):
        assert run.mask_password(url) == url


def test_a_database_from_the_environment_is_named_masked_with_what_the_demo_will_do(
        capsys: pytest.CaptureFixture[str]) -> None:
    run.start_services({"DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL}, started=[])
    out = capsys.readouterr().out
    assert "s3cret" not in out and "postgres://jobqueue:***@db.internal:5432/jobqueue" in out
    assert "not the embedded database" in out and "DEMO=0 adds nothing" in out


def test_the_development_secret_key_is_random_private_and_kept(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run, "VAR", tmp_path / "var")
    key = run.development_secret_key()
    assert len(key) >= 50 and run.development_secret_key() == key
    assert stat.S_IMODE((tmp_path / "var" / "secret_key").stat().st_mode) == 0o600
    monkeypatch.setattr(run, "VAR", tmp_path / "elsewhere")
    assert run.development_secret_key() != key
