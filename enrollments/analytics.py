"""Course analytics per hour and per day, computed with aggregate queries.

Invariant: one CourseActivity row per (course, granularity, period_start). Computing a period
again replaces its rows with fresh figures (upsert, and removal of courses that no longer have
any activity in it), so a re-run is idempotent. The counting itself, `course_figures`, is the
one place each figure is defined; the weekly report (enrollments.reports) counts with it too.
"""

from collections import defaultdict
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count

from certificates.models import Certificate
from enrollments.models import CourseActivity, Enrollment, LessonProgress

PERIOD_LENGTH = {
    CourseActivity.Granularity.HOUR: timedelta(hours=1),
    CourseActivity.Granularity.DAY: timedelta(days=1),
}
METRICS = ("new_enrollments", "completions", "active_learners", "certificates_issued")


def period_floor(moment: datetime, granularity: str) -> datetime:
    moment = moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if granularity == CourseActivity.Granularity.DAY else moment


def previous_period_start(now: datetime, granularity: str) -> datetime:
    """The last complete period before `now` (the one a scheduled run reports on)."""
    return period_floor(now, granularity) - PERIOD_LENGTH[granularity]


def _per_course(queryset, course_field: str, *, distinct_field: str | None = None) -> dict:
    counted = Count(distinct_field, distinct=True) if distinct_field else Count("pk")
    return dict(queryset.values_list(course_field).annotate(n=counted).values_list(course_field, "n"))


def _new_enrollments(start: datetime, end: datetime) -> dict:
    return _per_course(Enrollment.objects.filter(enrolled_at__gte=start, enrolled_at__lt=end), "course_id")


def _completions(start: datetime, end: datetime) -> dict:
    return _per_course(Enrollment.objects.filter(completed_at__gte=start, completed_at__lt=end), "course_id")


def _active_learners(start: datetime, end: datetime) -> dict:
    return _per_course(
        LessonProgress.objects.filter(completed_at__gte=start, completed_at__lt=end),
        "enrollment__course_id",
        distinct_field="enrollment__student_id",
    )


def _certificates_issued(start: datetime, end: datetime) -> dict:
    return _per_course(Certificate.objects.filter(issued_at__gte=start, issued_at__lt=end), "enrollment__course_id")


_METRIC_QUERIES = {
    "new_enrollments": _new_enrollments,
    "completions": _completions,
    "active_learners": _active_learners,
    "certificates_issued": _certificates_issued,
}


def course_figures(*, start: datetime, end: datetime, metrics: tuple[str, ...] = METRICS) -> dict[str, dict]:
    """Per metric, {course_id: count} of what happened in [start, end): one aggregate query each.

    Courses with nothing to count are absent. Shared by the hourly and daily analytics and the
    weekly report, so every figure of the same name is counted the same way.
    """
    return {metric: _METRIC_QUERIES[metric](start, end) for metric in metrics}


def course_activity_compute(*, granularity: str, period_start: datetime) -> dict:
    """Compute and store the figures of one period for every course; returns a summary."""
    start = period_floor(period_start, granularity)
    end = start + PERIOD_LENGTH[granularity]
    figures = course_figures(start=start, end=end)
    per_course: dict = defaultdict(dict)
    for metric, counts in figures.items():
        for course_id, n in counts.items():
            per_course[course_id][metric] = n
    rows = [
        CourseActivity(
            course_id=course_id,
            granularity=granularity,
            period_start=start,
            **{metric: values.get(metric, 0) for metric in METRICS},
        )
        for course_id, values in per_course.items()
    ]
    with transaction.atomic():
        CourseActivity.objects.filter(granularity=granularity, period_start=start).exclude(
            course_id__in=per_course.keys()
        ).delete()
        CourseActivity.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["course", "granularity", "period_start"],
            update_fields=[*METRICS, "computed_at"],
        )
    return {
        "granularity": granularity,
        "period_start": start.isoformat(),
        "courses": len(rows),
        **{metric: sum(counts.values()) for metric, counts in figures.items()},
    }
