from datetime import datetime, timedelta, timezone

import pytest
from django.core.exceptions import ValidationError

from jobs.core.cron import latest_fire_time, next_fire_time, schedule_validate
from jobs.models import MisfirePolicy, QueueJob, Schedule, ScheduleFiring
from jobs.plugins.cron import schedules_fire_due

UTC = timezone.utc


def test_next_fire_time_follows_local_time_across_dst():
    # Europe/Paris springs forward on 2026-03-29 (02:00 -> 03:00) and falls back on 2026-10-25.
    before_spring = datetime(2026, 3, 28, 12, tzinfo=UTC)
    assert next_fire_time("0 9 * * *", "Europe/Paris", before_spring) == datetime(2026, 3, 29, 7, tzinfo=UTC)
    assert next_fire_time("0 9 * * *", "Europe/Paris", datetime(2026, 3, 29, 8, tzinfo=UTC)) == datetime(
        2026, 3, 30, 7, tzinfo=UTC)
    # 02:30 does not exist on the spring-forward day: it fires at the next valid local time, once.
    fire = next_fire_time("30 2 * * *", "Europe/Paris", before_spring)
    assert fire == datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert next_fire_time("0 9 * * *", "Europe/Paris", datetime(2026, 10, 25, 6, tzinfo=UTC)) == datetime(
        2026, 10, 25, 8, tzinfo=UTC)


def test_latest_fire_time_includes_the_exact_tick():
    at = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    assert latest_fire_time("0 0 * * *", "UTC", at) == at


@pytest.mark.parametrize(
    ("fields", "bad"),
    [({"cron": "61 * * * *"}, "cron"), ({"cron": "* * *"}, "cron"), ({"timezone_name": "Mars/Olympus"}, "timezone"),
     ({"job_type": "nope"}, "job_type"), ({"job_type": "demo.sleep", "payload": {"seconds": -1}}, "payload")],
)
def test_invalid_schedules_are_rejected_with_the_field(fields, bad):
    base = {"job_type": "demo.noop", "payload": {}, "cron": "* * * * *", "timezone_name": "UTC"}
    with pytest.raises(ValidationError) as exc:
        schedule_validate(**{**base, **fields})
    assert bad in exc.value.message_dict


@pytest.mark.django_db
def test_default_schedules_exist_in_utc():
    schedules = {s.name: s for s in Schedule.objects.all()}
    assert (schedules["cleanup"].cron, schedules["cleanup"].job_type) == ("0 0 * * *", "cleanup.prune_jobs")
    assert (schedules["maintenance"].cron, schedules["maintenance"].job_type) == ("0 0 * * 0", "maintenance.vacuum_jobs")
    assert (schedules["report"].cron, schedules["report"].job_type) == ("0 0 1 * *", "report.queue_summary")
    assert all(s.timezone == "UTC" and s.enabled and s.next_fire_at for s in schedules.values())


@pytest.mark.django_db(transaction=True)
def test_each_fire_time_fires_once_even_when_two_schedulers_race():
    Schedule.objects.all().delete()
    schedule = Schedule.objects.create(name="t", job_type="demo.noop", cron="*/5 * * * *")
    fire_time = datetime(2026, 1, 1, 12, 5, tzinfo=UTC)
    Schedule.objects.filter(pk=schedule.pk).update(next_fire_at=fire_time)
    assert schedules_fire_due(now=fire_time + timedelta(seconds=1)) == 1
    # A second scheduler that read the old next_fire_at before the first one saved:
    Schedule.objects.filter(pk=schedule.pk).update(next_fire_at=fire_time)
    assert schedules_fire_due(now=fire_time + timedelta(seconds=2)) == 0
    assert QueueJob.objects.filter(source="schedule").count() == 1
    assert ScheduleFiring.objects.get().fire_time == fire_time
    schedule.refresh_from_db()
    assert schedule.next_fire_at == datetime(2026, 1, 1, 12, 10, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("policy", "expected"), [(MisfirePolicy.FIRE_ONCE, 1), (MisfirePolicy.SKIP, 0)])
def test_downtime_fires_once_for_the_missed_window_or_skips(policy, expected):
    Schedule.objects.all().delete()
    schedule = Schedule.objects.create(name="m", job_type="demo.noop", cron="0 * * * *", misfire_policy=policy)
    down_since = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    Schedule.objects.filter(pk=schedule.pk).update(next_fire_at=down_since)
    now = down_since + timedelta(hours=3, minutes=20)  # 12:00 to 15:00 missed, the last one 20 min ago
    assert schedules_fire_due(now=now) == expected
    schedule.refresh_from_db()
    assert schedule.next_fire_at == datetime(2026, 1, 1, 16, 0, tzinfo=UTC)
    if expected:
        assert ScheduleFiring.objects.get().fire_time == datetime(2026, 1, 1, 15, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_run_now_from_the_schedule_admin_fires_once_and_the_schedule_links_to_its_jobs():
    """Issue 12 item 10: schedules had no "run now" and no link to the jobs they fired."""
    from django.test import Client

    from jobs.models import AuditEntry
    from tests.conftest import make_user

    schedule = Schedule.objects.create(name="nightly-noop", job_type="demo.noop", cron="0 3 * * *")
    mail = Schedule.objects.create(name="digest", job_type="email.send", cron="0 4 * * *", payload={
        "to": ["ada@example.com"], "subject": "Digest", "body": "hi"})
    next_fire = Schedule.objects.get(pk=schedule.pk).next_fire_at
    other = QueueJob.objects.create(type="demo.noop", queue="default", status="completed", timeout=1)  # not fired
    client = Client()
    client.force_login(make_user("planner", perms=("view_queuejob", "add_queuejob", "view_schedule",
                                                   "change_schedule")))
    listing = client.get("/admin/jobs/schedule/").content.decode()
    assert "/admin/queues/queue/default/?schedule=nightly-noop" in listing and "fired jobs" in listing

    response = client.post("/admin/jobs/schedule/", {"action": "run_now", "_selected_action": [schedule.pk, mail.pk]},
                           follow=True)
    page = response.content.decode().lower()  # the admin capitalises its messages
    assert response.status_code == 200 and "nightly-noop: enqueued" in page
    assert "digest: you may not enqueue email.send" in page  # restricted: needs jobs.enqueue_email.send
    job = QueueJob.objects.get(source="schedule")
    assert (job.type, job.source_detail, job.created_by.username) == ("demo.noop", "nightly-noop", "planner")
    assert ScheduleFiring.objects.get(schedule=schedule).job_id == job.id
    assert Schedule.objects.get(pk=schedule.pk).next_fire_at == next_fire  # the timetable is unchanged
    entry = AuditEntry.objects.get(action="run_schedule")
    assert (entry.actor, entry.object_id, entry.interface) == ("planner", str(job.id), "admin")

    fired = client.get("/admin/queues/queue/default/?schedule=nightly-noop").content.decode()
    assert str(job.id) in fired and str(other.id) not in fired and 'id="schedule-chip"' in fired
    assert str(other.id) in client.get("/admin/queues/queue/default/").content.decode()

    viewer = Client()  # may see schedules but not change them: no action to run
    viewer.force_login(make_user("viewer", perms=("view_queuejob", "add_queuejob", "view_schedule")))
    refused = viewer.post("/admin/jobs/schedule/", {"action": "run_now", "_selected_action": [schedule.pk]})
    assert refused.status_code == 200 and QueueJob.objects.filter(source="schedule").count() == 1
