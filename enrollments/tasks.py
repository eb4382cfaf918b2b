"""Progress and analytics tasks (queue `progress`), report and archive tasks (queue `default`).
Thin: take ids or ISO dates, call a service.

Invariants: each is idempotent. A recalculation recomputes from the lesson-progress rows, so a
second run changes nothing; the stale-progress sweep deletes what is still stale and re-queues
itself while more remains; analytics upsert one row per course and period; the weekly report
overwrites its week's file and e-mails each staff member once per week; the monthly archive
deletes only rows already written to storage and re-queues itself while more remains (lms.archive).
"""

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from courses.models import Course
from enrollments import analytics, progress, reports, services
from enrollments.models import CourseActivity
from lms import archive
from lms.dates import day_parse
from lms.errors import Conflict
from lms.jobs.dispatch import dispatch_on_commit
from lms.jobs.progress import job_progress
from lms.jobs.singleton import singleton_started
from lms.jobs.task_base import DB_RETRY_OPTIONS

logger = logging.getLogger(__name__)

# Batches one sweep run deletes before re-queueing itself, so no single run nears its limit.
STALE_PROGRESS_BATCHES_PER_RUN = 20
# Archive parts (of lms.archive.ARCHIVE_BATCH_SIZE rows) one run writes before re-queueing
# itself: 100 000 rows, a minute or two even on a slow remote storage, far from the time limit.
ARCHIVE_BATCHES_PER_RUN = 100
# A recalculation starts once it has been queued this long, so a burst of lesson saves (an author
# adding lessons one by one) folds into one run instead of one run per save; short next to a
# learner's wait for the new figures.
RECALCULATION_SETTLE_SECONDS = 2.0
# Courses one run of recalculate_all_progress handles before re-queueing itself for the rest: at
# about 0.1 s a course (more for huge ones), well inside its time limit.
COURSES_PER_RUN = 2000


@shared_task(
    name="enrollments.tasks.recalculate_course_progress",
    soft_time_limit=240,
    time_limit=300,
    **DB_RETRY_OPTIONS,
)
def recalculate_course_progress(course_id: str) -> dict:
    # Free the course's "queued" key first: a lesson saved from now on queues the next run,
    # which waits for this one on the course lock (one queued, one running; lms.jobs.singleton).
    # Run in-process (inline mode), nobody else can save meanwhile: no settle time there.
    settle = 0 if recalculate_course_progress.request.is_eager else RECALCULATION_SETTLE_SECONDS
    singleton_started(key=services.course_progress_singleton_key(course_id), settle_seconds=settle)
    if not Course.objects.filter(pk=course_id).exists():
        logger.info("Course %s no longer exists; nothing to recalculate", course_id)
        return {"course_id": course_id, "missing": True}
    with transaction.atomic():
        # Taken here too (it stacks with the service's), only to time the locked run.
        progress.course_lock(course_id=course_id, shared=False)
        locked_at = timezone.now()
        result = services.course_progress_recalculate(course_id=course_id)
        finished_at = timezone.now()
    return {
        "course_id": course_id,
        "changed": result.changed,
        "completed": len(result.newly_completed),
        "reopened": result.reopened,
        # When it held the course lock: runs of one course never overlap.
        "locked": [locked_at.isoformat(), finished_at.isoformat()],
    }


@shared_task(
    name="enrollments.tasks.recalculate_all_progress",
    soft_time_limit=10 * 60,
    time_limit=11 * 60,
    **DB_RETRY_OPTIONS,
)
def recalculate_all_progress(after: str | None = None) -> dict:
    """Recalculate every course (ordered by id, those after `after`), reporting {done, total}
    courses as it goes (lms.jobs.progress); past COURSES_PER_RUN it re-queues itself for the
    rest and names that job in `continued_as`. A retry after a failure starts the run over."""
    courses = Course.objects.order_by("pk")
    if after:
        courses = courses.filter(pk__gt=after)
    total = min(courses.count(), COURSES_PER_RUN)
    changed = completed = done = 0
    last = None
    job_progress(done=0, total=total, force=True)
    for course_id in courses.values_list("pk", flat=True)[:COURSES_PER_RUN].iterator():
        result = services.course_progress_recalculate(course_id=course_id)
        changed += result.changed
        completed += len(result.newly_completed)
        done += 1
        last = course_id
        job_progress(done=done, total=total)
    summary = {"courses": done, "changed": changed, "completed": completed, "continued_as": None}
    if last is not None and courses.filter(pk__gt=last).exists():
        summary["continued_as"] = dispatch_on_commit(recalculate_all_progress, str(last))
    return summary


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


@shared_task(
    name="enrollments.tasks.monthly_archive",
    # Each batch commits as it goes and an interrupted one is settled by the next run (lms.archive),
    # so stopping at the soft limit loses nothing.
    soft_time_limit=10 * 60,
    time_limit=11 * 60,
    **DB_RETRY_OPTIONS,
)
def monthly_archive(month: str | None = None) -> dict:
    """Archive and delete notifications and task results older than the retention period as of
    the end of `month` (YYYY-MM; default: the month that just ended)."""
    month_start = archive.month_parse(month) if month else archive.month_previous(timezone.now())
    # Progress in rows ({done, total}, lms.jobs.progress): this run's share of what is to archive.
    plan = archive.archive_plan(month=month_start)
    total = min(plan["notifications"] + plan["task_results"], ARCHIVE_BATCHES_PER_RUN * archive.ARCHIVE_BATCH_SIZE)
    done = 0

    def on_batch(rows: int) -> None:
        nonlocal done
        done += rows
        job_progress(done=done, total=max(total, done))

    job_progress(done=0, total=total, force=True)
    try:
        summary = archive.archive_run(month=month_start, max_batches=ARCHIVE_BATCHES_PER_RUN, on_batch=on_batch)
    except Conflict as exc:
        logger.info("Archive of %s not run: %s", archive.month_label(month_start), exc)
        return {"month": archive.month_label(month_start), "skipped": exc.message}
    if summary["more"]:
        # The same month again, even if the follow-up runs after the next month has begun.
        summary["continued_as"] = dispatch_on_commit(monthly_archive, summary["month"])
    return summary
