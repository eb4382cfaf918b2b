from decimal import Decimal

import pytest
from django.core import mail

from enrollments import services
from enrollments.events import enrollments_completed
from enrollments.models import Enrollment, LessonProgress
from lms.errors import Conflict, NotFound
from tests.factories import UserFactory, course_with_lessons

pytestmark = pytest.mark.django_db


@pytest.fixture
def completed_signals():
    received = []

    def receiver(sender, enrollment_ids, **kwargs):
        received.append(list(enrollment_ids))

    enrollments_completed.connect(receiver, dispatch_uid="test-completed")
    yield received
    enrollments_completed.disconnect(dispatch_uid="test-completed")


def lessons(course):
    return list(course.lessons.order_by("position"))


def test_enrollment_create_counts_lessons_and_confirms_after_commit(learner, django_capture_on_commit_callbacks):
    course = course_with_lessons(4, title="Django from Zero")
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        enrollment = services.enrollment_create(student=learner, course=course)
        assert mail.outbox == []  # nothing is sent before the commit

    assert (enrollment.status, enrollment.total_lessons_count, enrollment.progress_percentage) == ("active", 4, 0)
    assert len(callbacks) == 1
    assert [m.subject for m in mail.outbox] == ["You're enrolled in Django from Zero"]


def test_enrollment_create_twice_is_a_conflict(learner):
    course = course_with_lessons(2)
    services.enrollment_create(student=learner, course=course)

    with pytest.raises(Conflict):
        services.enrollment_create(student=learner, course=course)

    assert Enrollment.objects.count() == 1


def test_enrollment_create_in_an_unpublished_course_is_not_found(learner):
    with pytest.raises(NotFound):
        services.enrollment_create(student=learner, course=course_with_lessons(1, is_published=False))


def test_a_dropped_enrollment_can_enroll_again_and_keeps_its_progress(learner, django_capture_on_commit_callbacks):
    course = course_with_lessons(4)
    with django_capture_on_commit_callbacks(execute=True):  # the first enrollment commits
        enrollment = services.enrollment_create(student=learner, course=course)
        services.enrollment_complete_lesson(enrollment=enrollment, lesson_id=lessons(course)[0].pk)
        services.enrollment_drop(enrollment=enrollment)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        again = services.enrollment_create(student=learner, course=course)

    assert again.pk == enrollment.pk
    assert (again.status, again.dropped_at, again.completed_lessons_count) == ("active", None, 1)
    assert len(mail.outbox) == 1  # a new start is a new confirmation


def test_complete_lesson_updates_counts_and_is_idempotent(learner):
    course = course_with_lessons(3)
    enrollment = services.enrollment_create(student=learner, course=course)
    first = lessons(course)[0]

    once = services.enrollment_complete_lesson(enrollment=enrollment, lesson_id=first.pk)
    twice = services.enrollment_complete_lesson(enrollment=enrollment, lesson_id=first.pk)

    assert (once.completed_lessons_count, once.progress_percentage) == (1, Decimal("33.33"))
    assert (twice.completed_lessons_count, twice.progress_percentage, twice.updated_at) == (
        1,
        Decimal("33.33"),
        once.updated_at,
    )
    assert LessonProgress.objects.count() == 1


def test_completing_the_last_lesson_completes_the_enrollment_once(learner, completed_signals):
    course = course_with_lessons(3)
    enrollment = services.enrollment_create(student=learner, course=course)
    for lesson in lessons(course)[:2]:
        enrollment = services.enrollment_complete_lesson(enrollment=enrollment, lesson_id=lesson.pk)
    assert (enrollment.status, enrollment.progress_percentage) == ("active", Decimal("66.67"))

    done = services.enrollment_complete_lesson(enrollment=enrollment, lesson_id=lessons(course)[2].pk)
    again = services.enrollment_complete_lesson(enrollment=enrollment, lesson_id=lessons(course)[2].pk)

    assert (done.status, done.progress_percentage, done.completed_lessons_count) == ("completed", Decimal("100"), 3)
    assert done.completed_at is not None
    assert again.completed_at == done.completed_at
    assert completed_signals == [[str(enrollment.pk)]]


def test_a_course_without_lessons_is_never_complete(learner):
    enrollment = services.enrollment_create(student=learner, course=course_with_lessons(0))

    assert (enrollment.status, enrollment.progress_percentage, enrollment.total_lessons_count) == ("active", 0, 0)


def test_complete_lesson_of_another_course_is_not_found(learner):
    enrollment = services.enrollment_create(student=learner, course=course_with_lessons(2))
    other = course_with_lessons(1)

    with pytest.raises(NotFound):
        services.enrollment_complete_lesson(enrollment=enrollment, lesson_id=lessons(other)[0].pk)

    assert not LessonProgress.objects.exists()


def test_complete_lesson_of_a_dropped_enrollment_is_a_conflict(learner):
    course = course_with_lessons(2)
    enrollment = services.enrollment_drop(enrollment=services.enrollment_create(student=learner, course=course))

    with pytest.raises(Conflict):
        services.enrollment_complete_lesson(enrollment=enrollment, lesson_id=lessons(course)[0].pk)

    assert not LessonProgress.objects.exists()


def test_drop_is_idempotent_and_refuses_a_completed_enrollment(learner):
    course = course_with_lessons(1)
    enrollment = services.enrollment_create(student=learner, course=course)

    dropped = services.enrollment_drop(enrollment=enrollment)
    assert services.enrollment_drop(enrollment=enrollment).dropped_at == dropped.dropped_at
    assert dropped.status == "dropped"

    other = services.enrollment_create(student=UserFactory(), course=course)
    services.enrollment_complete_lesson(enrollment=other, lesson_id=lessons(course)[0].pk)
    with pytest.raises(Conflict):
        services.enrollment_drop(enrollment=other)
