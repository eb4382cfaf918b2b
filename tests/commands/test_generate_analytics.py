"""manage.py generate_analytics: a day's figures (default yesterday), and with --hourly its hours."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from enrollments.models import CourseActivity
from tests.enrollments.helpers import PYTHON_TITLE, week_of_activity

pytestmark = pytest.mark.django_db

# The enrollments of week_of_activity() happen on Tuesday 3 March 2026 at 10:00.
DAY = datetime(2026, 3, 3, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Several accounts per test; their passwords play no part here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def run(*args) -> str:
    out = StringIO()
    call_command("generate_analytics", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def activity():
    return week_of_activity()


def test_generate_analytics_computes_yesterday_by_default(activity):
    with time_machine.travel(DAY + timedelta(days=1, hours=1), tick=False):
        output = run()

    assert "Analytics for 2026-03-03: 2 course(s), 4 new enrollment(s), 0 completion(s)" in output
    python = CourseActivity.objects.get(course__title=PYTHON_TITLE, granularity="day", period_start=DAY)
    assert python.new_enrollments == 3
    assert not CourseActivity.objects.filter(granularity="hour").exists()


def test_generate_analytics_hourly_computes_every_hour_of_the_day_with_a_progress_bar(activity, capsys):
    with time_machine.travel(datetime(2026, 3, 20, tzinfo=UTC), tick=False):
        output = run("--date", "2026-03-03", "--hourly")

    assert "4 new enrollment(s)" in output and "; 24 hour(s) computed." in output
    hourly = CourseActivity.objects.filter(granularity="hour")
    assert {row.period_start for row in hourly} == {DAY + timedelta(hours=10)}  # the only busy hour
    assert "24/24" in capsys.readouterr().err


def test_generate_analytics_run_twice_gives_the_same_rows(activity):
    with time_machine.travel(datetime(2026, 3, 20, tzinfo=UTC), tick=False):
        run("--date", "2026-03-03", "--hourly")
        before = list(CourseActivity.objects.order_by("pk").values("course", "granularity", "period_start",
                                                                     "new_enrollments", "completions"))  # fmt: skip
        run("--date", "2026-03-03", "--hourly")

    after = list(CourseActivity.objects.order_by("pk").values("course", "granularity", "period_start",
                                                            "new_enrollments", "completions"))  # fmt: skip
    assert after == before


def test_generate_analytics_for_today_computes_the_hours_so_far_and_says_the_day_is_not_over(activity):
    with time_machine.travel(DAY + timedelta(hours=10, minutes=30), tick=False):
        output = run("--date", "2026-03-03", "--hourly")

    assert "2026-03-03 is not over yet" in output
    assert "; 11 hour(s) computed." in output  # 00:00 to 10:00


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("03/03/2026", r"--date takes a day as YYYY-MM-DD, e\.g\. 2026-03-19; got '03/03/2026'"),
        ("2026-02-30", r"--date takes a day as YYYY-MM-DD"),
        ("2026-03-21", r"--date 2026-03-21 is in the future"),
    ],
)
def test_generate_analytics_bad_dates_say_what_to_give(value, message):
    with (
        time_machine.travel(datetime(2026, 3, 20, 12, tzinfo=UTC), tick=False),
        pytest.raises(CommandError, match=message),
    ):
        run("--date", value)
