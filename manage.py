#!/usr/bin/env python
"""Django's command-line utility, answering a setup problem with one line and an exit code.

A missing setting (2) or an unreachable PostgreSQL or Redis (1) is something to fix, not to
debug: the person gets what is wrong and where to look, not a traceback.
"""
import os
import sys

EXIT_CONFIG = 2
EXIT_UNREACHABLE = 1
#: Commands that run until stopped: they wait out an unreachable PostgreSQL instead of giving up.
SERVERS = {"run_worker", "run_scheduler", "rqworker", "runserver", "shell", "dbshell"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobsite.settings")
    if len(sys.argv) > 1 and sys.argv[1] not in SERVERS:
        os.environ.setdefault("JOBS_PROCESS", "cli")  # settings: a short pool timeout, warnings only
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db import OperationalError
    from redis.exceptions import ConnectionError as RedisConnectionError

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        sys.exit(EXIT_CONFIG)
    except OperationalError as exc:
        from django.conf import settings

        db = settings.DATABASES["default"]
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        sys.stderr.write(f"cannot reach PostgreSQL at {db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432} "
                         f"({first}): is `make run` running in this checkout, or DATABASE_URL set?\n")
        sys.exit(EXIT_UNREACHABLE)
    except RedisConnectionError as exc:
        sys.stderr.write(f"cannot reach Redis ({exc}): is `make run` running in this checkout, or REDIS_URL set?\n")
        sys.exit(EXIT_UNREACHABLE)


if __name__ == "__main__":
    main()
