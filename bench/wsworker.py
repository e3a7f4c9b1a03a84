"""``python -m bench.wsworker QUEUE...``: ``run_worker`` with the bench's own job types (bench.ws) registered."""
import sys

import django

django.setup()

from django.core.management import call_command  # noqa: E402

import bench.ws  # noqa: E402,F401  (registers bench.ticks)

call_command("run_worker", *sys.argv[1:])
