"""Health for scripts: same checks as /healthz; exit 0 healthy, 1 not."""
from __future__ import annotations

import argparse
import json as jsonlib

from django.core.management.base import BaseCommand, CommandError

from jobs.selectors.health import health_check


class Command(BaseCommand):
    help = "Check database, Redis, workers and scheduler; exit 1 when any is unhealthy."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print the /healthz body")

    def handle(self, *args: object, **options: object) -> None:
        health = health_check()
        if options["json"]:
            self.stdout.write(_dumps(health.as_dict()))
        else:
            for name, check in health.checks.items():
                detail = check.get("error") or ", ".join(
                    f"{k}={v}" for k, v in check.items() if k not in ("ok", "error"))
                self.stdout.write(f"{'ok  ' if check['ok'] else 'FAIL'} {name:<10} {detail}")
        if not health.healthy:
            raise CommandError(f"unhealthy: {', '.join(health.failing)}", returncode=1)


def _dumps(data: object) -> str:
    return jsonlib.dumps(data, indent=2, default=str)
