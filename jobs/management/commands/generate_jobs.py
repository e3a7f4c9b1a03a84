"""Fill the job tables with a synthetic history (benchmarks, demos): set-based, ~1M rows a minute."""
from __future__ import annotations

import argparse
import time
from typing import Any

from django.core.management.base import BaseCommand

from jobs.engine.audit import audit_record
from jobs.management.cli import cli_actor, positive_float, positive_int
from jobs.management.generate import generate_jobs


class Command(BaseCommand):
    help = ("Insert COUNT synthetic jobs of the registered types (mixed states, errors and attempts) "
            "spread over the last DAYS days. Adds to what is there.")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--count", type=positive_int, default=100_000, help="Jobs to insert (default: %(default)s)")
        parser.add_argument("--days", type=positive_float, default=30.0,
                            help="Spread finished jobs over this many days (default: %(default)s)")
        parser.add_argument("--seed", type=float, default=0.42, help="Random seed in [-1, 1] (default: %(default)s)")

    def handle(self, *args: Any, count: int, days: float, seed: float, **options: Any) -> None:
        began = time.monotonic()
        result = generate_jobs(count=count, days=days, seed=seed)
        audit_record(actor=cli_actor("generate_jobs"), action="generate", count=result.jobs,
                     detail=f"synthetic history over {days:g} days, seed {seed:g}")
        self.stdout.write(f"Inserted {result.jobs:,} jobs and {result.attempts:,} attempts "
                          f"in {time.monotonic() - began:.1f} s.")
        if options["verbosity"] > 1:
            self.stdout.write(", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.timings.items()))
