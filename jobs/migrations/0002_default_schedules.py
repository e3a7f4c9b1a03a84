"""The specifications' recurring jobs, all UTC (README, "Recurring jobs, retention and health")."""
from datetime import datetime, timezone

from croniter import croniter
from django.db import migrations

DEFAULTS = [
    ("cleanup", "cleanup.prune_jobs", "0 0 * * *"),  # daily: retention pruning
    ("maintenance", "maintenance.vacuum_jobs", "0 0 * * 0"),  # weekly: VACUUM (ANALYZE) of the job tables
    ("report", "report.queue_summary", "0 0 1 * *"),  # monthly: queue report stored as the job's result
]


def create(apps, schema_editor):
    Schedule = apps.get_model("jobs", "Schedule")
    now = datetime.now(timezone.utc)
    for name, job_type, cron in DEFAULTS:
        Schedule.objects.get_or_create(
            name=name,
            defaults={"job_type": job_type, "payload": {}, "cron": cron, "timezone": "UTC",
                      "next_fire_at": croniter(cron, now).get_next(datetime)},
        )


def remove(apps, schema_editor):
    apps.get_model("jobs", "Schedule").objects.filter(name__in=[name for name, _, _ in DEFAULTS]).delete()


class Migration(migrations.Migration):
    dependencies = [("jobs", "0001_initial")]
    operations = [migrations.RunPython(create, remove)]
