"""The long jobs that report progress: each one id, re-queueing itself past its per-run cap."""

import pytest
from django.db import transaction

from certificates.models import Certificate
from certificates.tasks import issue_course_certificates
from enrollments import tasks as enrollment_tasks
from enrollments.models import Enrollment
from enrollments.tasks import recalculate_all_progress
from tests.factories import UserFactory, course_with_lessons

pytestmark = pytest.mark.django_db


def test_recalculate_all_progress_recalculates_every_course_and_continues_past_its_cap(
    monkeypatch, django_capture_on_commit_callbacks
):
    # given three courses whose stored totals are stale (lessons added without signals)
    courses = [course_with_lessons(2) for _ in range(3)]
    for course in courses:
        Enrollment.objects.create(student=UserFactory(), course=course)
    Enrollment.objects.update(total_lessons_count=0)
    monkeypatch.setattr(enrollment_tasks, "COURSES_PER_RUN", 2)

    # when the job runs (and the follow-up it queues, inline after commit)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        first = recalculate_all_progress.apply().get()

    # then two courses were done by the first run, the third by the follow-up it names
    assert (first["courses"], first["changed"]) == (2, 2)
    assert first["continued_as"]
    assert set(Enrollment.objects.values_list("total_lessons_count", flat=True)) == {2}


def test_issue_course_certificates_issues_the_missing_ones_of_that_course_only():
    course, other = course_with_lessons(1), course_with_lessons(1)
    for target in (course, course, other):
        Enrollment.objects.create(student=UserFactory(), course=target, status=Enrollment.Status.COMPLETED)

    summary = issue_course_certificates.apply(args=[str(course.pk)]).get()
    again = issue_course_certificates.apply(args=[str(course.pk)]).get()

    assert (summary["issued"], summary["skipped"], summary["continued_as"]) == (2, 0, None)
    assert Certificate.objects.filter(enrollment__course=course).count() == 2
    assert not Certificate.objects.filter(enrollment__course=other).exists()
    assert again["issued"] == 0  # idempotent: nothing left to issue
