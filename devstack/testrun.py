"""`make test`: Django checks, migration check, layering contracts (.importlinter), then pytest.

With DATABASE_URL / REDIS_URL set (CI points them at the machine's servers)
those are used. Otherwise a throwaway embedded PostgreSQL and Valkey are
started in a temporary dir and removed afterwards, so a bare machine needs
nothing installed. Extra arguments go to pytest; the exit code is pytest's
(or the failing check's).

Browser tests need Chromium. Locally they skip without it (we say so up
front); under CI=true a missing Chromium is an error, because .ci/run
installs it and a silently skipped browser suite would hide failures.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from devstack import services
from devstack.run import ROOT


def find_chromium() -> str | None:
    """Path of a Chromium binary, or None. Debian installs /usr/bin/chromium."""
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def _say(text: str) -> None:
    print(f"devstack  | {text}", flush=True)


def main(argv: list[str]) -> int:
    os.chdir(ROOT)
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "jobsite.settings")
    env["PYTHONUNBUFFERED"] = "1"
    # Settings refuse to load without a key when DEBUG is off; tests run with
    # DEBUG off, and this key (same as tests/conftest.py) guards nothing real.
    env.setdefault("SECRET_KEY", "test-only-secret-key")

    chromium = find_chromium()
    if chromium is None:
        if env.get("CI") == "true":
            _say("CI=true but no Chromium found: .ci/run must install it (apt-get install chromium)")
            return 2
        _say("browser tests will be skipped: no Chromium found")
    else:
        env.setdefault("CHROMIUM_PATH", chromium)

    started: list[services.PostgresHandle | services.ValkeyHandle] = []
    tmp: Path | None = None
    try:
        if not env.get("DATABASE_URL") or not env.get("REDIS_URL"):
            tmp = Path(tempfile.mkdtemp(prefix="jobqueue-test-"))
        if not env.get("DATABASE_URL"):
            assert tmp is not None
            pg = services.start_postgres(tmp / "postgres", durable=False)
            started.append(pg)
            env["DATABASE_URL"] = pg.url
            _say(f"throwaway PostgreSQL at {pg.url}")
        if not env.get("REDIS_URL"):
            assert tmp is not None
            kv = services.start_valkey(tmp / "valkey")
            started.append(kv)
            env["REDIS_URL"] = kv.url
            _say(f"throwaway Valkey at {kv.url}")

        python = sys.executable
        lint_imports = str(Path(python).parent / "lint-imports")
        for check in ([python, "manage.py", "check"],
                      [python, "manage.py", "makemigrations", "--check", "--dry-run"],
                      [lint_imports, "--no-cache"]):
            _say("running " + " ".join([Path(check[0]).name, *check[1:]]))
            code = subprocess.run(check, env=env, stdin=subprocess.DEVNULL).returncode
            if code != 0:
                _say(f"`{' '.join(check)}` failed (exit {code})")
                return code
        _say("running pytest " + " ".join(argv))
        return subprocess.run([python, "-m", "pytest", *argv], env=env,
                              stdin=subprocess.DEVNULL).returncode
    except KeyboardInterrupt:
        return 130
    finally:
        for handle in reversed(started):
            handle.stop()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
