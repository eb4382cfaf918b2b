"""Progress and analytics tasks (queue `progress`), report tasks (queue `default`).
Thin: take ids or ISO dates, call a service.

Invariants: each is idempotent. A recalculation recomputes from the lesson-progress rows, so a
second run changes nothing; the stale-progress sweep deletes what is still stale and re-queues
itself while more remains; analytics upsert one row per course and period; the weekly report
overwrites its week's file and e-mails each staff member once per week.
"""

import logging

from celery import shared_task
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from courses.models import Course
from enrollments import analytics, reports, services
from enrollments.models import CourseActivity
from lms.dates import day_parse
from lms.dispatch import dispatch_on_commit
from lms.task_base import DB_RETRY_OPTIONS

logger = logging.getLogger(__name__)

# Batches one sweep run deletes before re-queueing itself, so no single run nears its limit.
STALE_PROGRESS_BATCHES_PER_RUN = 20


@shared_task(
    name="enrollments.tasks.recalculate_course_progress",
    soft_time_limit=240,
    time_limit=300,
    **DB_RETRY_OPTIONS,
)
def recalculate_course_progress(course_id: str) -> dict:
    if not Course.objects.filter(pk=course_id).exists():
        logger.info("Course %s no longer exists; nothing to recalculate", course_id)
        return {"course_id": course_id, "missing": True}
    result = services.course_progress_recalculate(course_id=course_id)
    return {
        "course_id": course_id,
        "changed": result.changed,
        "completed": len(result.newly_completed),
        "reopened": result.reopened,
    }


@shared_task(name="enrollments.tasks.cleanup_stale_progress", soft_time_limit=240, time_limit=300, **DB_RETRY_OPTIONS)
def cleanup_stale_progress() -> dict:
    summary = services.progress_cleanup_stale(max_batches=STALE_PROGRESS_BATCHES_PER_RUN)
    if summary["more"]:
        dispatch_on_commit(cleanup_stale_progress)
    return summary


def _analytics(granularity: str, period_start: str | None) -> dict:
    if period_start:
        start = parse_datetime(period_start)
        if start is None or timezone.is_naive(start):
            raise ValueError(f"period_start must be an ISO datetime with a timezone, got {period_start!r}")
    else:
        start = analytics.previous_period_start(timezone.now(), granularity)
    return analytics.course_activity_compute(granularity=granularity, period_start=start)


@shared_task(
    name="enrollments.tasks.generate_hourly_analytics", soft_time_limit=240, time_limit=300, **DB_RETRY_OPTIONS
)
def generate_hourly_analytics(period_start: str | None = None) -> dict:
    """Figures of the hour starting at `period_start` (default: the last complete hour)."""
    return _analytics(CourseActivity.Granularity.HOUR, period_start)


@shared_task(name="enrollments.tasks.generate_daily_analytics", soft_time_limit=240, time_limit=300, **DB_RETRY_OPTIONS)
def generate_daily_analytics(period_start: str | None = None) -> dict:
    """Figures of the day starting at `period_start` (default: yesterday, UTC)."""
    return _analytics(CourseActivity.Granularity.DAY, period_start)


@shared_task(
    name="enrollments.tasks.generate_weekly_report",
    # A few aggregate queries, a PDF of a few pages and one e-mail row per staff member: seconds.
    soft_time_limit=5 * 60,
    time_limit=6 * 60,
    **DB_RETRY_OPTIONS,
)
def generate_weekly_report(week_start: str | None = None) -> dict:
    """Report of the week containing `week_start` (any day, YYYY-MM-DD; default: last week)."""
    week = day_parse(week_start) if week_start else reports.previous_week_start(timezone.now())
    return reports.weekly_report_generate(week_start=week)
