"""The learner's journey: enroll, complete lessons, drop; progress recalculation; clean-up.

Invariants:
- one enrollment per learner and course (unique constraint); a second enrollment while active
  or completed is a conflict, a dropped one is re-activated;
- progress (counts, percentage, status) is computed only by enrollments.progress, for one
  enrollment or a whole course, in the same transaction as the change that moves it;
- completing a lesson is idempotent (unique pair, insert-or-ignore): repeating it changes
  nothing; a dropped enrollment cannot progress;
- an enrollment that reaches 100 % becomes completed exactly once, and `enrollments_completed`
  is sent for it in that transaction.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from courses.models import Course, Lesson
from enrollments import progress
from enrollments.events import enrollment_started, enrollments_completed
from enrollments.models import Enrollment, LessonProgress
from enrollments.progress import RecalculationResult
from lms.errors import Conflict, NotFound
from lms.jobs.singleton import dispatch_singleton_on_commit
from lms.users.models import User

logger = logging.getLogger(__name__)

# Rows deleted per statement by the stale-progress sweep: big enough to be quick, small enough
# that one DELETE never holds locks (or WAL) for long.
STALE_PROGRESS_BATCH_SIZE = 5_000


def _announce_completed(result: RecalculationResult) -> RecalculationResult:
    if result.newly_completed:
        enrollments_completed.send(sender=Enrollment, enrollment_ids=result.newly_completed)
    return result


def _refresh_progress(enrollment: Enrollment) -> Enrollment:
    _announce_completed(
        progress.recalculate(course_id=enrollment.course_id, enrollment_id=enrollment.pk, now=timezone.now())
    )
    enrollment.refresh_from_db()
    return enrollment


def enrollment_create(*, student: User, course: Course) -> Enrollment:
    """Enroll `student` in a published course; re-activates a dropped enrollment."""
    if not course.is_published:
        raise NotFound("No such course.")
    with transaction.atomic():
        progress.course_lock(course_id=course.pk, shared=True)
        enrollment = Enrollment.objects.select_for_update().filter(student=student, course=course).first()
        if enrollment is None:
            try:
                with transaction.atomic():
                    enrollment = Enrollment.objects.create(student=student, course=course)
            except IntegrityError as exc:  # a concurrent request enrolled first
                raise Conflict("You are already enrolled in this course.") from exc
        elif enrollment.status == Enrollment.Status.DROPPED:
            enrollment.status = Enrollment.Status.ACTIVE
            enrollment.enrolled_at = timezone.now()
            enrollment.dropped_at = None
            enrollment.completed_at = None
            enrollment.save(update_fields=["status", "enrolled_at", "dropped_at", "completed_at", "updated_at"])
        else:
            raise Conflict("You are already enrolled in this course.")
        _refresh_progress(enrollment)
        enrollment_started.send(sender=Enrollment, enrollment=enrollment)
    return enrollment


def enrollment_complete_lesson(*, enrollment: Enrollment, lesson_id) -> Enrollment:
    """Mark a lesson of the enrollment's course done. Idempotent."""
    with transaction.atomic():
        progress.course_lock(course_id=enrollment.course_id, shared=True)
        enrollment = Enrollment.objects.select_for_update().get(pk=enrollment.pk)
        if not Lesson.objects.filter(pk=lesson_id, course_id=enrollment.course_id).exists():
            raise NotFound("This lesson is not part of the enrollment's course.")
        if enrollment.status == Enrollment.Status.DROPPED:
            raise Conflict("This enrollment was dropped; enroll again to continue.")
        LessonProgress.objects.bulk_create(
            [LessonProgress(enrollment=enrollment, lesson_id=lesson_id)], ignore_conflicts=True
        )
        return _refresh_progress(enrollment)


def enrollment_drop(*, enrollment: Enrollment) -> Enrollment:
    with transaction.atomic():
        enrollment = Enrollment.objects.select_for_update().get(pk=enrollment.pk)
        if enrollment.status == Enrollment.Status.COMPLETED:
            raise Conflict("A completed enrollment cannot be dropped.")
        if enrollment.status == Enrollment.Status.ACTIVE:
            enrollment.status = Enrollment.Status.DROPPED
            enrollment.dropped_at = timezone.now()
            enrollment.save(update_fields=["status", "dropped_at", "updated_at"])
    return enrollment


def course_progress_recalculate(*, course_id) -> RecalculationResult:
    """Recompute every enrollment of a course with a constant number of statements."""
    with transaction.atomic():
        progress.course_lock(course_id=course_id, shared=False)
        result = _announce_completed(progress.recalculate(course_id=course_id, now=timezone.now()))
    logger.info(
        "Recalculated course %s: %d changed, %d completed, %d reopened",
        course_id, result.changed, len(result.newly_completed), result.reopened,
    )  # fmt: skip
    return result


def course_progress_singleton_key(course_id) -> str:
    return f"course-progress:{course_id}"


def course_progress_recalculate_later(*, course_id) -> str:
    """Queue the recalculation (after commit) unless one is queued already, not yet started;
    returns the id of the job that will run (lms.jobs.singleton: one queued, one running)."""
    from enrollments.tasks import recalculate_course_progress as recalculate_course_progress_task

    return dispatch_singleton_on_commit(
        recalculate_course_progress_task, course_progress_singleton_key(course_id), str(course_id)
    )


def progress_cleanup_stale(*, now=None, max_batches: int | None = None) -> dict:
    """Delete lesson progress of enrollments dropped more than STALE_PROGRESS_DAYS ago.

    Works in batches of STALE_PROGRESS_BATCH_SIZE; stops after `max_batches` (None: until done).
    Returns {"deleted": n, "more": bool}.
    """
    cutoff = (now or timezone.now()) - timedelta(days=settings.STALE_PROGRESS_DAYS)
    stale = LessonProgress.objects.filter(
        enrollment__status=Enrollment.Status.DROPPED, enrollment__dropped_at__lt=cutoff
    )
    deleted = batches = 0
    while max_batches is None or batches < max_batches:
        ids = list(stale.values_list("pk", flat=True)[:STALE_PROGRESS_BATCH_SIZE])
        if not ids:
            return {"deleted": deleted, "more": False}
        deleted += LessonProgress.objects.filter(pk__in=ids).delete()[0]
        batches += 1
    return {"deleted": deleted, "more": stale.exists()}
