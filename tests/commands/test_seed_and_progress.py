import io

import pytest
from django.core.management import CommandError, call_command

from courses.models import Course, Lesson
from enrollments.models import Enrollment
from lms.users.models import User
from tests.enrollments.test_progress import expected, populate, stored
from tests.factories import course_with_lessons

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def snapshot():
    return (
        User.objects.count(),
        Course.objects.count(),
        Lesson.objects.count(),
        sorted(Enrollment.objects.values_list("student__email", "course__slug", "status", "completed_lessons_count")),
    )


def test_seed_demo_creates_a_working_demo_and_is_idempotent(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = run("seed_demo")
    before = snapshot()
    with django_capture_on_commit_callbacks(execute=True):
        second = run("seed_demo")

    assert snapshot() == before
    assert "5 account(s) and 7 enrollment(s) created, 3 courses" in first
    assert "0 account(s) and 0 enrollment(s) created" in second
    assert User.objects.get(email="admin@example.com").is_staff
    assert all(5 <= c.lessons.count() <= 8 and c.is_published for c in Course.objects.all())
    statuses = {status for *_, status, _ in before[3]}
    assert statuses == {"active", "completed"}
    learner = User.objects.get(email="learner@example.com")
    assert learner.check_password("demo-password-2026")


def test_recalculate_progress_for_one_course_inline():
    course = course_with_lessons(6)
    populate(course, 50, seed=7)

    output = run("recalculate_progress", "--course", str(course.pk))

    assert stored(course) == expected(course)
    assert "Recalculated 1 course(s)" in output
    assert "enrollment(s) changed" in output


def test_recalculate_progress_all_covers_every_course(monkeypatch):
    monkeypatch.setattr("enrollments.management.commands.recalculate_progress.COURSE_BATCH_SIZE", 2)
    courses = [course_with_lessons(3) for _ in range(5)]
    for seed, course in enumerate(courses):
        populate(course, 10, seed=100 + seed)

    output = run("recalculate_progress", "--all")

    assert all(stored(course) == expected(course) for course in courses)
    assert "Recalculated 5 course(s)" in output


def test_recalculate_progress_async_queues_one_job_per_course(django_capture_on_commit_callbacks):
    course = course_with_lessons(2)

    with django_capture_on_commit_callbacks() as callbacks:
        output = run("recalculate_progress", "--course", str(course.pk), "--async")

    assert "Queued one job recalculating 1 course(s)." in output
    assert "Task id:" in output
    assert [c.task.name for c in callbacks] == ["enrollments.tasks.recalculate_course_progress"]


def test_recalculate_progress_all_async_queues_one_job_that_reports_progress(django_capture_on_commit_callbacks):
    # given five courses
    for _ in range(5):
        course_with_lessons(1)

    # when every course is queued
    with django_capture_on_commit_callbacks() as callbacks:
        output = run("recalculate_progress", "--all", "--async")

    # then one job with one id (the one an operator follows), which recalculates every course
    [batch] = callbacks
    [job] = batch.jobs
    assert job.task.name == "enrollments.tasks.recalculate_all_progress"
    assert "Queued one job recalculating 5 course(s)." in output
    assert f"Task id: {job.task_id}" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "one of the arguments --course --all is required"),
        (("--course", "nope"), "takes a course id"),
        (("--course", "00000000-0000-0000-0000-000000000000"), "No course with id"),
    ],
)
def test_recalculate_progress_errors_say_what_to_do(args, message):
    with pytest.raises(CommandError, match=message):
        run("recalculate_progress", *args)
