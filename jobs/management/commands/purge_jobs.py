"""Apply the retention policies now (what cleanup.prune_jobs does daily)."""
from __future__ import annotations

import argparse

from django.core.management.base import BaseCommand

from jobs.engine.audit import audit_record
from jobs.management.cli import cli_actor
from jobs.plugins.pruner import prune_jobs, prune_preview


class Command(BaseCommand):
    help = "Delete finished jobs beyond each queue's retention policy (--dry-run to only count)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Show what would be deleted; delete nothing")

    def handle(self, *args: object, dry_run: bool, **options: object) -> None:
        counts = prune_preview() if dry_run else prune_jobs()
        verb = "would delete" if dry_run else "deleted"
        for count in counts:
            if count.count:
                self.stdout.write(f"{count.queue:<14} {count.policy:<10} {verb} {count.count}")
        total = sum(c.count for c in counts)
        if not dry_run:
            # After the batches (each its own short transaction, jobs/plugins/pruner.py): what they deleted.
            audit_record(actor=cli_actor("purge_jobs"), action="delete", count=total,
                         detail="retention: " + (", ".join(f"{c.queue} {c.policy} {c.count}" for c in counts if c.count)
                                                 or "nothing due"))
        self.stdout.write(f"total: {verb} {total} job(s)")
