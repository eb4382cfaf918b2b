"""A bulk completion through the real command and a real worker: every certificate, once."""

import io
import json
import math

import pytest
from django.conf import settings
from django.core.management import call_command
from django_celery_results.models import TaskResult

from certificates.models import Certificate
from enrollments.models import Enrollment
from lms.models import OutboxMessage
from tests.faults.data import learners_with_stale_progress
from tests.processes import wait_for

pytestmark = pytest.mark.integration

GENERATE = "certificates.tasks.generate_certificates"


def test_recalculating_a_course_completing_many_at_once_issues_every_certificate_once(live_worker):
    # given 150 learners who finished a course while their stored progress is stale
    course = learners_with_stale_progress(150, lessons_done=2, lessons=2, passwords=False)

    # when the operator recalculates the course (one batch of certificate jobs, of
    # CERTIFICATES_PER_JOB enrollments each)
    out = io.StringIO()
    call_command("recalculate_progress", "--course", str(course.pk), stdout=out, stderr=io.StringIO())
    assert "150 newly completed" in out.getvalue()
    assert not OutboxMessage.objects.exists()  # the broker took the whole batch

    # then the worker issues each certificate exactly once
    wait_for(lambda: Certificate.objects.count() == 150, timeout=120, what="150 certificates")
    enrollment_ids = {str(pk) for pk in Enrollment.objects.filter(course=course).values_list("pk", flat=True)}
    certified = [str(pk) for pk in Certificate.objects.values_list("enrollment_id", flat=True)]
    assert sorted(certified) == sorted(enrollment_ids)
    # and each job's result says which it issued: every enrollment by exactly one job
    jobs = math.ceil(150 / settings.CERTIFICATES_PER_JOB)
    results = wait_for(
        lambda: (
            rows
            if len(rows := list(TaskResult.objects.filter(task_name=GENERATE))) == jobs
            and all(r.status == "SUCCESS" for r in rows)
            else None
        ),
        what=f"{jobs} successful results",
    )
    issued = [enrollment_id for r in results for enrollment_id in json.loads(r.result)["issued"]]
    assert sorted(issued) == sorted(enrollment_ids)
