from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from certificates.models import Certificate
from enrollments import services
from enrollments.analytics import course_activity_compute, previous_period_start
from enrollments.models import CourseActivity, Enrollment
from enrollments.tasks import generate_daily_analytics, generate_hourly_analytics
from tests.factories import UserFactory, course_with_lessons

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday, 10:00 UTC


def activity(course, granularity="hour", start=T0):
    row = CourseActivity.objects.get(course=course, granularity=granularity, period_start=start)
    return (row.new_enrollments, row.completions, row.active_learners, row.certificates_issued)


@pytest.fixture
def busy_hour():
    """Between 10:00 and 11:00: three enrollments in course A, one of them completed with a
    certificate, two learners active; one enrollment in course B at 11:30 (next hour)."""
    a, b = course_with_lessons(2, title="A"), course_with_lessons(1, title="B")
    learners = [UserFactory() for _ in range(4)]
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        enrollments = [services.enrollment_create(student=u, course=a) for u in learners[:3]]
    with time_machine.travel(T0 + timedelta(minutes=20), tick=False):
        for lesson in a.lessons.all():
            services.enrollment_complete_lesson(enrollment=enrollments[0], lesson_id=lesson.pk)
        services.enrollment_complete_lesson(enrollment=enrollments[1], lesson_id=a.lessons.first().pk)
        Certificate.objects.create(enrollment=enrollments[0], certificate_number="LMS-T-1", learner_name="x",
                                   course_title="A")  # fmt: skip
    with time_machine.travel(T0 + timedelta(minutes=90), tick=False):
        services.enrollment_create(student=learners[3], course=b)
    return a, b


def test_hourly_figures_per_course(busy_hour):
    a, b = busy_hour

    summary = course_activity_compute(granularity="hour", period_start=T0)

    assert activity(a) == (3, 1, 2, 1)
    assert not CourseActivity.objects.filter(course=b, period_start=T0).exists()
    assert summary["courses"] == 1 and summary["new_enrollments"] == 3


def test_daily_figures_cover_the_whole_day(busy_hour):
    a, b = busy_hour
    day = T0.replace(hour=0)

    course_activity_compute(granularity="day", period_start=T0 + timedelta(hours=5))  # any time in the day

    assert activity(a, "day", day) == (3, 1, 2, 1)
    assert activity(b, "day", day) == (1, 0, 0, 0)


def test_rerunning_a_period_is_idempotent_and_picks_up_late_data(busy_hour):
    a, _ = busy_hour
    course_activity_compute(granularity="hour", period_start=T0)
    first = CourseActivity.objects.get(course=a, period_start=T0)

    course_activity_compute(granularity="hour", period_start=T0)
    assert CourseActivity.objects.filter(period_start=T0).count() == 1
    assert activity(a) == (3, 1, 2, 1)

    Enrollment.objects.filter(course=a).update(enrolled_at=T0 - timedelta(days=1))
    course_activity_compute(granularity="hour", period_start=T0)
    assert CourseActivity.objects.get(pk=first.pk).new_enrollments == 0


def test_computation_is_a_fixed_number_of_aggregate_queries(busy_hour):
    with CaptureQueriesContext(connection) as queries:
        course_activity_compute(granularity="day", period_start=T0)

    assert len(queries) <= 8  # four aggregates, a delete, an upsert, savepoint bookkeeping


def test_scheduled_runs_report_the_last_complete_period(busy_hour):
    a, _ = busy_hour

    with time_machine.travel(T0 + timedelta(hours=1, minutes=2), tick=False):
        hourly = generate_hourly_analytics.apply().get()
    with time_machine.travel(T0 + timedelta(days=1, hours=1), tick=False):
        daily = generate_daily_analytics.apply().get()

    assert hourly["period_start"] == T0.isoformat()
    assert daily["period_start"] == T0.replace(hour=0).isoformat()
    assert activity(a) == (3, 1, 2, 1)


def test_previous_period_start():
    now = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)
    assert previous_period_start(now, "hour") == datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
    assert previous_period_start(now, "day") == datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


def test_analytics_task_rejects_a_naive_or_bad_period():
    assert generate_hourly_analytics.apply(kwargs={"period_start": "yesterday"}).failed()
    assert generate_hourly_analytics.apply(kwargs={"period_start": "2026-03-02T10:00:00"}).failed()
