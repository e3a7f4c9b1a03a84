"""Dashboard support: job counts kept by triggers, pg_trgm search indexes, list indexes.

Counts: jobs_queuejob's triggers append +1/-1 rows to jobs_jobcountdelta (an
insert or delete statement adds one row per queue and state it touched; a
status change adds two). Nothing ever updates a shared counter row in the
job's own transaction, so concurrent transitions never wait on each other.
jobs.counts folds the deltas into jobs_jobcount and jobs_jobthroughput.
"""

import django.contrib.postgres.indexes
import django.db.models.functions.comparison
import django.db.models.functions.datetime
import django.db.models.functions.text
from django.conf import settings
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

COUNT_TRIGGERS = """
CREATE FUNCTION jobs_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO jobs_jobcountdelta (queue, status, n, finished, at)
    SELECT queue, status, count(*), false, now() FROM new_rows GROUP BY queue, status;
    RETURN NULL;
END $$;

CREATE FUNCTION jobs_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO jobs_jobcountdelta (queue, status, n, finished, at)
    SELECT queue, status, -count(*), false, now() FROM old_rows GROUP BY queue, status;
    RETURN NULL;
END $$;

-- Row level, so that the many UPDATEs that do not change the state (progress,
-- lease renewals) cost nothing: the WHEN clause is checked without a call.
CREATE FUNCTION jobs_count_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO jobs_jobcountdelta (queue, status, n, finished, at)
    VALUES (OLD.queue, OLD.status, -1, false, now()),
           (NEW.queue, NEW.status, 1, NEW.status IN ('completed', 'failed'), now());
    RETURN NULL;
END $$;

CREATE FUNCTION jobs_count_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM jobs_jobcountdelta;
    DELETE FROM jobs_jobcount;
    DELETE FROM jobs_jobthroughput;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs_queuejob
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION jobs_count_inserted();
CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs_queuejob
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION jobs_count_deleted();
CREATE TRIGGER jobs_count_update AFTER UPDATE OF status, queue ON jobs_queuejob
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.queue IS DISTINCT FROM NEW.queue)
    EXECUTE FUNCTION jobs_count_moved();
CREATE TRIGGER jobs_count_truncate AFTER TRUNCATE ON jobs_queuejob
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_count_truncated();

-- queue and type go together (a type has its queue): without this the planner
-- multiplies their selectivities and underestimates "queue=email AND type=email.send"
-- by the number of queues, which the dashboard shows when counting exactly is too slow.
CREATE STATISTICS jobs_queuejob_queue_type_status (dependencies, mcv) ON queue, type, status FROM jobs_queuejob;

-- The triggers hold their lock until this migration commits, so no job changes
-- between them and this first count.
INSERT INTO jobs_jobcount (queue, status, n)
SELECT queue, status, count(*) FROM jobs_queuejob GROUP BY queue, status;
"""

DROP_COUNT_TRIGGERS = """
DROP TRIGGER jobs_count_insert ON jobs_queuejob;
DROP TRIGGER jobs_count_delete ON jobs_queuejob;
DROP TRIGGER jobs_count_update ON jobs_queuejob;
DROP TRIGGER jobs_count_truncate ON jobs_queuejob;
DROP FUNCTION jobs_count_inserted(), jobs_count_deleted(), jobs_count_moved(), jobs_count_truncated();
DROP STATISTICS jobs_queuejob_queue_type_status;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0002_default_schedules'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        TrigramExtension(),
        migrations.CreateModel(
            name='JobCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('queue', models.CharField(max_length=50)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('scheduled', 'Scheduled'), ('active', 'Active'), ('retrying', 'Retrying'), ('completed', 'Completed'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], max_length=16)),
                ('n', models.BigIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name='JobCountDelta',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('queue', models.CharField(max_length=50)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('scheduled', 'Scheduled'), ('active', 'Active'), ('retrying', 'Retrying'), ('completed', 'Completed'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], max_length=16)),
                ('n', models.BigIntegerField()),
                ('finished', models.BooleanField(default=False)),
                ('at', models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
            ],
        ),
        migrations.CreateModel(
            name='JobThroughput',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('queue', models.CharField(max_length=50)),
                ('minute', models.DateTimeField()),
                ('completed', models.IntegerField(default=0)),
                ('failed', models.IntegerField(default=0)),
            ],
        ),
        migrations.AddField(
            model_name='queuejob',
            name='error_signature',
            field=models.GeneratedField(db_persist=True, expression=models.Func(models.Func(django.db.models.functions.text.Left(models.Func(models.F('error'), models.Value('\n'), models.Value(1), function='split_part'), 200), models.Value('[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}'), models.Value('<id>'), models.Value('g'), function='regexp_replace'), models.Value('[0-9]+'), models.Value('N'), models.Value('g'), function='regexp_replace', output_field=models.TextField()), help_text='The error with numbers and ids blanked out: groups alike failures', output_field=models.CharField(max_length=250)),
        ),
        migrations.AddIndex(
            model_name='queuejob',
            index=models.Index(condition=models.Q(('status', 'failed')), fields=['type', 'error_signature'], include=('finished_at',), name='job_failed_signature'),
        ),
        migrations.AddIndex(
            model_name='queuejob',
            index=models.Index(condition=models.Q(('finished_at__isnull', False)), fields=['queue', '-finished_at', '-id'], name='job_queue_finished_id'),
        ),
        migrations.AddIndex(
            model_name='queuejob',
            index=django.contrib.postgres.indexes.GinIndex(django.contrib.postgres.indexes.OpClass(django.db.models.functions.text.Left(django.db.models.functions.comparison.Cast('payload', models.TextField()), models.Value(1000)), name='gin_trgm_ops'), name='job_payload_trgm'),
        ),
        migrations.AddIndex(
            model_name='queuejob',
            index=django.contrib.postgres.indexes.GinIndex(django.contrib.postgres.indexes.OpClass('error', name='gin_trgm_ops'), condition=models.Q(('error', ''), _negated=True), name='job_error_trgm'),
        ),
        migrations.AddConstraint(
            model_name='jobcount',
            constraint=models.UniqueConstraint(fields=('queue', 'status'), name='jobcount_queue_status'),
        ),
        migrations.AddConstraint(
            model_name='jobthroughput',
            constraint=models.UniqueConstraint(fields=('queue', 'minute'), name='throughput_queue_minute'),
        ),
        migrations.RunSQL(COUNT_TRIGGERS, DROP_COUNT_TRIGGERS),
    ]
