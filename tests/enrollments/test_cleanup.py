from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from enrollments import services
from enrollments.models import Enrollment, LessonProgress
from enrollments.tasks import cleanup_stale_progress
from tests.factories import UserFactory, course_with_lessons

pytestmark = pytest.mark.django_db


def enrollment_with_progress(course, *, dropped_days_ago=None):
    enrollment = services.enrollment_create(student=UserFactory(), course=course)
    for lesson in course.lessons.all()[:2]:
        services.enrollment_complete_lesson(enrollment=enrollment, lesson_id=lesson.pk)
    if dropped_days_ago is not None:
        with time_machine.travel(timezone.now() - timedelta(days=dropped_days_ago)):
            services.enrollment_drop(enrollment=enrollment)
    return enrollment


def test_cleanup_deletes_only_progress_of_long_dropped_enrollments(settings):
    settings.STALE_PROGRESS_DAYS = 30
    course = course_with_lessons(3)
    stale = enrollment_with_progress(course, dropped_days_ago=31)
    recent = enrollment_with_progress(course, dropped_days_ago=5)
    active = enrollment_with_progress(course)

    summary = services.progress_cleanup_stale()

    assert summary == {"deleted": 2, "more": False}
    assert not LessonProgress.objects.filter(enrollment=stale).exists()
    assert LessonProgress.objects.filter(enrollment=recent).count() == 2
    assert LessonProgress.objects.filter(enrollment=active).count() == 2
    assert Enrollment.objects.filter(pk=stale.pk, status="dropped").exists()
    assert services.progress_cleanup_stale() == {"deleted": 0, "more": False}


def test_cleanup_works_in_batches_and_the_task_requeues_itself(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.STALE_PROGRESS_DAYS = 30
    course = course_with_lessons(3)
    for _ in range(3):
        enrollment_with_progress(course, dropped_days_ago=40)
    monkeypatch.setattr(services, "STALE_PROGRESS_BATCH_SIZE", 2)
    monkeypatch.setattr("enrollments.tasks.STALE_PROGRESS_BATCHES_PER_RUN", 1)

    assert services.progress_cleanup_stale(max_batches=1) == {"deleted": 2, "more": True}
    with django_capture_on_commit_callbacks(execute=True) as requeued:
        result = cleanup_stale_progress.apply().get()

    assert result == {"deleted": 2, "more": True}
    assert len(requeued) >= 1  # it queued the next batch, which ran inline
    assert not LessonProgress.objects.exists()
