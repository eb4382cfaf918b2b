"""Enrolling and course changes, handled by a real worker through Redis."""

import json

import pytest
from django_celery_results.models import TaskResult

from courses.models import Lesson
from enrollments import services
from enrollments.models import Enrollment
from tests.conftest import client_for
from tests.factories import course_with_lessons
from tests.processes import mail_to, wait_for

pytestmark = pytest.mark.integration


def succeeded(task_name: str) -> list[TaskResult]:
    return list(TaskResult.objects.filter(task_name=task_name, status="SUCCESS"))


def queue_of(result: TaskResult) -> str:
    return json.loads(result.meta)["queue"]


def test_enroll_via_api_sends_the_confirmation_from_the_emails_queue(live_worker, learner):
    # given a published course
    course = course_with_lessons(3, title="Reliable Background Jobs")

    # when the learner enrolls through the API
    response = client_for(learner).post(f"/api/courses/{course.pk}/enroll/")

    # then the worker sends the confirmation, and the job came through the emails queue
    assert response.status_code == 201
    messages = wait_for(
        lambda: [m for m in mail_to(live_worker.mail_dir, learner.email) if "enrolled" in m["Subject"]],
        what="the enrollment confirmation",
    )
    assert messages[0]["Subject"] == "You're enrolled in Reliable Background Jobs"
    [result] = wait_for(lambda: succeeded("notifications.tasks.send_enrollment_confirmation"), what="task result")
    assert queue_of(result) == "emails"
    assert json.loads(result.result) == "sent"


def test_a_lesson_added_is_recalculated_by_the_worker_from_the_progress_queue(live_worker, learner):
    # given a learner who completed both lessons of a course
    course = course_with_lessons(2)
    enrollment = services.enrollment_create(student=learner, course=course)
    for lesson in course.lessons.all():
        services.enrollment_complete_lesson(enrollment=enrollment, lesson_id=lesson.pk)
    assert Enrollment.objects.get(pk=enrollment.pk).status == "completed"

    # when staff add a lesson (the signal enqueues the recalculation after commit)
    Lesson.objects.create(course=course, title="Bonus", position=3)

    # then the worker reopens the enrollment at 66.67 %, from the progress queue
    reopened = wait_for(
        lambda: Enrollment.objects.filter(pk=enrollment.pk, status="active", total_lessons_count=3).first(),
        what="the enrollment to be recalculated",
    )
    assert float(reopened.progress_percentage) == 66.67
    assert reopened.completed_at is None
    [result] = wait_for(lambda: succeeded("enrollments.tasks.recalculate_course_progress"), what="task result")
    assert queue_of(result) == "progress"
    assert json.loads(result.result)["reopened"] == 1
