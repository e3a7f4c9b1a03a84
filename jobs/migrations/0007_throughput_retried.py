"""Failed attempts that were retried, counted apart from jobs that failed for good (issue 12 item 6).

The transition trigger of migration 0003 also marks moves into 'retrying' as
throughput, and the fold (jobs.plugins.counts) sums them into the new column.
"""

from django.db import migrations, models

MOVED = """
CREATE OR REPLACE FUNCTION jobs_count_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO jobs_jobcountdelta (queue, status, n, finished, at)
    VALUES (OLD.queue, OLD.status, -1, false, now()),
           (NEW.queue, NEW.status, 1, NEW.status IN ('completed', 'failed', 'retrying'), now());
    RETURN NULL;
END $$;
"""

MOVED_BEFORE = MOVED.replace("'completed', 'failed', 'retrying'", "'completed', 'failed'")


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0006_job_type_access'),
    ]

    operations = [
        migrations.AddField(
            model_name='jobthroughput',
            name='retried',
            field=models.IntegerField(default=0),
        ),
        migrations.RunSQL(MOVED, MOVED_BEFORE),
    ]
