"""manage.py weekly_report: the last complete week (or the week of --week) here, or --async."""

from datetime import UTC, datetime
from io import StringIO

import pytest
import time_machine
from django.core import mail
from django.core.management import CommandError, call_command
from django_celery_results.models import TaskResult

from enrollments.models import WeeklyReport
from tests.enrollments.helpers import REPORT_TIME, WEEK_LABEL, WEEK_START, week_of_activity
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Several accounts per test; their passwords play no part here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("weekly_report", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def activity():
    week_of_activity()
    StaffFactory(email="ada@example.com")


def test_weekly_report_reports_the_last_complete_week_and_prints_a_summary(activity):
    with time_machine.travel(REPORT_TIME, tick=False):
        out, _ = run()

    assert (
        f"Weekly report {WEEK_LABEL} (from 2026-03-02): 2 course(s), 4 new enrollment(s), 1 completion(s); "
        f"stored as reports/weekly/{WEEK_LABEL}.pdf, for 1 staff member(s)"
    ) in out
    assert WeeklyReport.objects.get().week_start == WEEK_START


def test_weekly_report_takes_any_day_of_the_week_and_reruns_without_a_second_email(
    activity, django_capture_on_commit_callbacks
):
    with time_machine.travel(datetime(2026, 4, 1, tzinfo=UTC), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            first, _ = run("--week", "2026-03-08")  # the Sunday
        with django_capture_on_commit_callbacks(execute=True):
            second, _ = run("--week", "2026-03-04")  # the Wednesday

    assert f"Weekly report {WEEK_LABEL}" in first and f"Weekly report {WEEK_LABEL}" in second
    assert WeeklyReport.objects.count() == 1
    assert [m.to for m in mail.outbox if m.subject.startswith("Weekly report")] == [["ada@example.com"]]


def test_weekly_report_async_prints_the_task_id(activity, django_capture_on_commit_callbacks):
    with time_machine.travel(REPORT_TIME, tick=False), django_capture_on_commit_callbacks(execute=True):
        out, err = run("--async")

    task_id = out.strip()
    result = TaskResult.objects.get(task_id=task_id)
    assert (result.task_name, result.status) == ("enrollments.tasks.generate_weekly_report", "SUCCESS")
    assert '"2026-03-02"' in result.task_args
    assert "ran in this process" in err  # the suite has no broker in use for inline jobs


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--week", "last"), r"--week takes any day of the week as YYYY-MM-DD, e\.g\. 2026-03-02 for 2026-W10"),
        (("--week", "2026-02-30"), r"--week takes any day of the week"),
        (("--week", "2026-03-09"), r"The week 2026-W11 has not ended yet .* e\.g\. the last complete one, 2026-W10"),
    ],
)
def test_weekly_report_bad_weeks_say_what_to_give(args, message):
    with time_machine.travel(REPORT_TIME, tick=False), pytest.raises(CommandError, match=message):
        run(*args)
    assert not WeeklyReport.objects.exists()
