"""A bulk completion through the real command and a real worker: every certificate, once."""

import io

import pytest
from django.core.management import call_command
from django_celery_results.models import TaskResult

from certificates.models import Certificate
from enrollments.models import Enrollment
from lms.models import OutboxMessage
from tests.faults.data import learners_with_stale_progress
from tests.processes import wait_for

pytestmark = pytest.mark.integration


def test_recalculating_a_course_completing_many_at_once_issues_every_certificate_once(live_worker):
    # given 150 learners who finished a course while their stored progress is stale
    course = learners_with_stale_progress(150, lessons_done=2, lessons=2, passwords=False)

    # when the operator recalculates the course (one batch of 150 certificate jobs)
    out = io.StringIO()
    call_command("recalculate_progress", "--course", str(course.pk), stdout=out, stderr=io.StringIO())
    assert "150 newly completed" in out.getvalue()
    assert not OutboxMessage.objects.exists()  # the broker took the whole batch

    # then the worker issues each certificate exactly once, each job with its own result
    wait_for(lambda: Certificate.objects.count() == 150, timeout=120, what="150 certificates")
    enrollment_ids = {str(pk) for pk in Enrollment.objects.filter(course=course).values_list("pk", flat=True)}
    certified = [str(pk) for pk in Certificate.objects.values_list("enrollment_id", flat=True)]
    assert sorted(certified) == sorted(enrollment_ids)
    results = wait_for(
        lambda: (
            rows
            if len(rows := list(TaskResult.objects.filter(task_name="certificates.tasks.generate_certificate"))) == 150
            and all(r.status == "SUCCESS" for r in rows)
            else None
        ),
        what="150 successful results",
    )
    assert {pk for pk in enrollment_ids if any(pk in r.task_args for r in results)} == enrollment_ids
