"""manage.py setup_schedules: the design's defaults, installed once, never overwriting an edit."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask, PeriodicTasks

from lms.celery import app
from lms.jobs.checks import check_periodic_tasks_are_registered
from lms.services import DEFAULT_SCHEDULES, schedule_defaults_install

TOKENS_TASK = "lms.users.tasks.cleanup_expired_tokens"

pytestmark = pytest.mark.django_db

# name -> (task, minute, hour, day_of_week, day_of_month): DESIGN.md, "Schedules"
EXPECTED = {
    "cleanup-expired-tokens": ("lms.users.tasks.cleanup_expired_tokens", "0", "3", "*", "*"),
    "cleanup-unverified-users": ("lms.users.tasks.cleanup_unverified_users", "30", "3", "*", "*"),
    "generate-daily-analytics": ("enrollments.tasks.generate_daily_analytics", "0", "1", "*", "*"),
    "generate-hourly-analytics": ("enrollments.tasks.generate_hourly_analytics", "0", "*", "*", "*"),
    "weekly-report": ("enrollments.tasks.generate_weekly_report", "0", "9", "1", "*"),
    "monthly-archive": ("enrollments.tasks.monthly_archive", "0", "0", "*", "1"),
    "cleanup-stale-progress": ("enrollments.tasks.cleanup_stale_progress", "0", "2", "*", "*"),
    "dispatch-outbox": ("lms.tasks.dispatch_outbox", "*", "*", "*", "*"),
    "sweep-stuck-jobs": ("lms.tasks.sweep_stuck_jobs", "*/5", "*", "*", "*"),
    "celery.backend_cleanup": ("celery.backend_cleanup", "0", "4", "*", "*"),
    # Finer than a minute: an interval schedule (task, "every", seconds)
    "announcements-tick": ("notifications.tasks.announcements_tick", "every", 5),
}


def setup_schedules(*args) -> str:
    out = StringIO()
    call_command("setup_schedules", *args, stdout=out)
    return out.getvalue()


def stored() -> dict:
    return {
        t.name: (t.task, "every", t.interval.every)
        if t.interval
        else (t.task, t.crontab.minute, t.crontab.hour, t.crontab.day_of_week, t.crontab.day_of_month)
        for t in PeriodicTask.objects.select_related("crontab", "interval")
    }


def test_setup_schedules_installs_every_default_in_utc():
    output = setup_schedules()

    assert stored() == EXPECTED
    assert all(t.enabled for t in PeriodicTask.objects.all())
    assert all(str(t.crontab.timezone) == "UTC" for t in PeriodicTask.objects.filter(crontab__isnull=False))
    assert f"Schedules: {len(EXPECTED)} created, 0 reset, 0 kept." in output
    assert "is not a registered task" not in output


def test_every_default_schedule_names_a_registered_task():
    # given the defaults installed
    setup_schedules()

    # when the stored schedules are checked against the code (lms.W004)
    warnings = check_periodic_tasks_are_registered(databases=["default"])

    # then every one of them, the weekly report and the monthly archive included, runs
    assert {d.task for d in DEFAULT_SCHEDULES} <= set(app.tasks.keys())
    assert warnings == []


def test_setup_schedules_names_a_default_task_the_code_does_not_register(monkeypatch):
    monkeypatch.delitem(app.tasks, "enrollments.tasks.monthly_archive")

    output = setup_schedules()

    assert "enrollments.tasks.monthly_archive is not a registered task" in output
    assert f"{TOKENS_TASK} is not a registered task" not in output


def test_setup_schedules_run_again_changes_nothing():
    setup_schedules()
    before = list(PeriodicTask.objects.order_by("name").values())

    output = setup_schedules()

    assert list(PeriodicTask.objects.order_by("name").values()) == before
    assert f"Schedules: 0 created, 0 reset, {len(EXPECTED)} kept." in output
    # re-used, never duplicated
    assert CrontabSchedule.objects.count() == sum(1 for e in EXPECTED.values() if e[1] != "every")
    assert IntervalSchedule.objects.count() == 1


def test_setup_schedules_keeps_an_admins_edit_and_beats_last_run():
    # given defaults an admin then edited, and that beat ran
    setup_schedules()
    last_run = timezone.now() - timedelta(hours=2)
    task = PeriodicTask.objects.get(name="cleanup-expired-tokens")
    task.crontab, task.interval = None, IntervalSchedule.objects.create(every=6, period=IntervalSchedule.HOURS)
    task.save()
    PeriodicTask.objects.filter(name="cleanup-expired-tokens").update(last_run_at=last_run, total_run_count=5)
    weekly = PeriodicTask.objects.get(name="weekly-report")
    weekly.enabled = False
    weekly.save()

    # when the command runs again (as every deploy does)
    setup_schedules()

    # then their edits and the run history are untouched
    task.refresh_from_db()
    assert (task.interval.every, task.interval.period, task.crontab) == (6, "hours", None)
    assert (task.last_run_at, task.total_run_count) == (last_run, 5)
    assert not PeriodicTask.objects.get(name="weekly-report").enabled


def test_setup_schedules_reset_restores_the_defaults_but_keeps_the_run_history():
    setup_schedules()
    last_run = timezone.now() - timedelta(hours=2)
    task = PeriodicTask.objects.get(name="cleanup-expired-tokens")
    task.crontab, task.interval = None, IntervalSchedule.objects.create(every=6, period=IntervalSchedule.HOURS)
    task.kwargs, task.enabled = '{"x": 1}', True
    task.save()
    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=last_run, total_run_count=5)
    PeriodicTask.objects.filter(name="weekly-report").update(enabled=False)

    output = setup_schedules("--reset")

    assert stored() == EXPECTED
    task.refresh_from_db()
    assert (task.interval, task.kwargs, task.enabled) == (None, "{}", True)
    assert (task.last_run_at, task.total_run_count) == (last_run, 5)
    assert PeriodicTask.objects.get(name="weekly-report").enabled
    assert f"Schedules: 0 created, {len(EXPECTED)} reset, 0 kept." in output


def test_setup_schedules_adds_only_what_is_missing():
    setup_schedules()
    PeriodicTask.objects.filter(name="monthly-archive").delete()

    result = schedule_defaults_install()

    assert [d.name for d in result.created] == ["monthly-archive"]
    assert len(result.kept) == len(DEFAULT_SCHEDULES) - 1


def test_setup_schedules_tells_a_running_beat_to_reload():
    PeriodicTasks.objects.all().delete()

    setup_schedules()

    assert PeriodicTasks.last_change() is not None


# --- installed by migrate -------------------------------------------------------------------


def test_migrate_installs_the_default_schedules():
    # given a database whose schedules table is empty (as a new one's is)
    assert not PeriodicTask.objects.exists()

    # when `migrate` runs
    out = StringIO()
    call_command("migrate", stdout=out)

    # then every default is there, in UTC, and migrate said so
    assert stored() == EXPECTED
    assert f"Installed {len(EXPECTED)} default schedule(s)" in out.getvalue()


def test_migrate_again_keeps_an_admins_edit():
    # given the defaults installed by migrate, then edited and disabled in admin
    call_command("migrate", verbosity=0)
    weekly = PeriodicTask.objects.get(name="weekly-report")
    weekly.crontab = CrontabSchedule.objects.create(minute="15", hour="7", day_of_week="5")
    weekly.enabled = False
    weekly.save()
    before = list(PeriodicTask.objects.order_by("name").values())

    # when migrate runs again (every deploy does)
    call_command("migrate", verbosity=0)

    # then nothing changed
    assert list(PeriodicTask.objects.order_by("name").values()) == before


def test_flush_does_not_install_schedules():
    # given (flush sends post_migrate too, without a plan: tests flush their database this way)
    from django.core.management.sql import emit_post_migrate_signal

    # when
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")

    # then
    assert not PeriodicTask.objects.exists()


def test_setup_schedules_prints_crontabs_in_cron_order():
    output = setup_schedules()

    assert "minute hour day-of-month month day-of-week" in output
    # weekly: Monday 09:00; monthly: day 1 at 00:00 (read in cron order)
    assert "weekly-report: enrollments.tasks.generate_weekly_report at 0 9 * * 1 (UTC)" in output
    assert "monthly-archive: enrollments.tasks.monthly_archive at 0 0 1 * * (UTC)" in output
