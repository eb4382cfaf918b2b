"""The set-based recalculation against a from-scratch Python computation."""

import random
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from certificates.models import Certificate
from courses.models import Lesson
from enrollments import services
from enrollments.events import enrollments_completed
from enrollments.models import Enrollment, LessonProgress
from enrollments.tasks import recalculate_course_progress
from lms.users.models import User
from tests.factories import course_with_lessons

pytestmark = pytest.mark.django_db


def populate(course, n_enrollments: int, *, seed: int) -> list[Enrollment]:
    """Enrollments with random progress and stale stored figures, some dropped or 'completed'."""
    rng = random.Random(seed)
    lessons = list(course.lessons.all())
    users = User.objects.bulk_create(
        User(email=f"p{seed}-{i}@example.com", full_name=f"P {i}") for i in range(n_enrollments)
    )
    statuses = ["active"] * 6 + ["dropped", "completed"]
    enrollments = Enrollment.objects.bulk_create(
        Enrollment(
            student=user,
            course=course,
            status=(status := rng.choice(statuses)),
            completed_at=timezone.now() if status == "completed" else None,
        )
        for user in users
    )
    LessonProgress.objects.bulk_create(
        LessonProgress(enrollment=enrollment, lesson=lesson)
        for enrollment in enrollments
        for lesson in rng.sample(lessons, rng.choice([0, 1, len(lessons) // 2, len(lessons) - 1, len(lessons)]))
    )
    return enrollments


def expected(course) -> dict[str, tuple]:
    """What every enrollment should hold, computed row by row in Python."""
    total = course.lessons.count()
    result = {}
    for enrollment in Enrollment.objects.filter(course=course):
        done = LessonProgress.objects.filter(enrollment=enrollment).count()
        pct = (Decimal(100 * done) / total).quantize(Decimal("0.01"), ROUND_HALF_UP) if total else Decimal(0)
        status = "completed" if total and done >= total else "active"
        if enrollment.status == "dropped":
            status = "dropped"
        result[str(enrollment.pk)] = (status, done, total, pct)
    return result


def stored(course) -> dict[str, tuple]:
    return {
        str(e.pk): (e.status, e.completed_lessons_count, e.total_lessons_count, e.progress_percentage)
        for e in Enrollment.objects.filter(course=course)
    }


def test_recalculation_matches_a_python_recompute_of_a_few_hundred_enrollments():
    # given 300 enrollments with random progress and stale stored figures
    course = course_with_lessons(12)
    populate(course, 300, seed=1)
    want = expected(course)

    # when the course is recalculated
    result = services.course_progress_recalculate(course_id=course.pk)

    # then every enrollment holds what the row-by-row computation says
    assert stored(course) == want
    assert result.changed > 250
    completed = {pk for pk, (status, *_) in want.items() if status == "completed"}
    assert all(Enrollment.objects.get(pk=pk).completed_at for pk in completed)
    assert not Enrollment.objects.filter(course=course, status="active", completed_at__isnull=False).exists()

    # and a second run changes nothing
    assert services.course_progress_recalculate(course_id=course.pk).changed == 0


def test_recalculating_a_course_leaves_every_other_course_as_it_was():
    # given two courses whose stored figures are both stale
    course, other = course_with_lessons(8), course_with_lessons(8)
    populate(course, 60, seed=4)
    populate(other, 60, seed=5)
    other_before = stored(other)

    # when only the first is recalculated
    result = services.course_progress_recalculate(course_id=course.pk)

    # then it is right, and no row of the other course was written
    assert stored(course) == expected(course)
    assert stored(other) == other_before != expected(other)
    assert result.changed <= 60


def test_recalculation_uses_a_constant_number_of_queries():
    small, large = course_with_lessons(10), course_with_lessons(10)
    populate(small, 20, seed=2)
    populate(large, 400, seed=3)

    with CaptureQueriesContext(connection) as few:
        services.course_progress_recalculate(course_id=small.pk)
    with CaptureQueriesContext(connection) as many:
        services.course_progress_recalculate(course_id=large.pk)

    assert len(few) == len(many) <= 5
    assert sum("UPDATE" in q["sql"] for q in many.captured_queries) == 1


def test_newly_completed_enrollments_are_announced_once_with_their_ids():
    course = course_with_lessons(5)
    populate(course, 100, seed=4)
    newly = {pk for pk, (status, *_) in expected(course).items() if status == "completed"} - {
        str(pk) for pk in Enrollment.objects.filter(course=course, status="completed").values_list("pk", flat=True)
    }
    announced = []
    enrollments_completed.connect(lambda sender, enrollment_ids, **kw: announced.extend(enrollment_ids), weak=False,
                                  dispatch_uid="t")  # fmt: skip
    try:
        services.course_progress_recalculate(course_id=course.pk)
        services.course_progress_recalculate(course_id=course.pk)
    finally:
        enrollments_completed.disconnect(dispatch_uid="t")

    assert newly
    assert sorted(announced) == sorted(newly)


def test_adding_a_lesson_reopens_completed_enrollments_but_keeps_their_certificates(
    learner, django_capture_on_commit_callbacks
):
    # given a completed enrollment with a certificate
    course = course_with_lessons(2)
    enrollment = services.enrollment_create(student=learner, course=course)
    for lesson in course.lessons.all():
        enrollment = services.enrollment_complete_lesson(enrollment=enrollment, lesson_id=lesson.pk)
    assert enrollment.status == "completed"
    Certificate.objects.get_or_create(
        enrollment=enrollment,
        defaults={"certificate_number": "LMS-TEST-0001", "learner_name": "x", "course_title": "y"},
    )

    # when staff add two lessons in one transaction (the signal enqueues after commit)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        Lesson.objects.create(course=course, title="New 1", position=3)
        Lesson.objects.create(course=course, title="New 2", position=4)

    # then one recalculation ran, the enrollment is active at 50 %, and the certificate stays
    assert len(callbacks) == 1
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.progress_percentage, enrollment.completed_at) == ("active", 50, None)
    assert Certificate.objects.filter(enrollment=enrollment).exists()


def test_deleting_the_missing_lesson_completes_the_enrollment(learner, django_capture_on_commit_callbacks):
    course = course_with_lessons(3)
    enrollment = services.enrollment_create(student=learner, course=course)
    first, second, third = course.lessons.order_by("position")
    for lesson in (first, second):
        services.enrollment_complete_lesson(enrollment=enrollment, lesson_id=lesson.pk)

    with django_capture_on_commit_callbacks(execute=True):
        third.delete()

    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.progress_percentage, enrollment.total_lessons_count) == ("completed", 100, 2)


def test_recalculate_task_is_idempotent_and_ignores_a_deleted_course():
    course = course_with_lessons(4)
    populate(course, 30, seed=5)

    first = recalculate_course_progress.apply(args=[str(course.pk)]).get()
    second = recalculate_course_progress.apply(args=[str(course.pk)]).get()
    course_id = str(course.pk)
    course.delete()
    gone = recalculate_course_progress.apply(args=[course_id]).get()

    assert first["changed"] > 0
    assert second["changed"] == 0
    assert gone == {"course_id": course_id, "missing": True}
