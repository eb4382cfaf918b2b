"""A long job on a real worker reports {done, total} that GET /api/tasks/<id>/ answers while it runs."""

import time

import pytest
from django_celery_results.models import TaskResult

from certificates.tasks import issue_course_certificates
from enrollments.models import Enrollment
from lms.jobs.dispatch import dispatch_on_commit
from lms.users.models import User
from tests.factories import course_with_lessons
from tests.processes import wait_for

pytestmark = pytest.mark.integration

# Enough certificates (a PDF each, issued in batches of CERTIFICATES_PER_JOB) that the job runs
# for a few seconds, past the progress writes' 1 s throttle.
CERTIFICATES = 600


def test_issuing_a_course_s_certificates_reports_progress_while_it_runs(live_worker, staff_client):
    # given a course with completed enrollments and no certificates yet
    course = course_with_lessons(1)
    learners = User.objects.bulk_create(
        User(email=f"progress-{i}@example.com", full_name=f"Learner {i}", is_verified=True) for i in range(CERTIFICATES)
    )
    Enrollment.objects.bulk_create(
        Enrollment(student=learner, course=course, status=Enrollment.Status.COMPLETED) for learner in learners
    )

    # when the one job is queued and staff poll its status
    task_id = dispatch_on_commit(issue_course_certificates, str(course.pk))
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        body = staff_client.get(f"/api/tasks/{task_id}/").json()
        seen.append((body["status"], body["progress"]))
        if body["status"] in ("SUCCESS", "FAILURE"):
            break
        time.sleep(0.05)

    # then progress was seen mid-way, counting up to the course's total, and is gone at the end
    midway = [progress for status, progress in seen if progress and 0 < progress["done"] < CERTIFICATES]
    assert midway, f"no progress seen while the job ran: {seen[:5]} ... {seen[-5:]}"
    assert {progress["total"] for progress in midway} == {CERTIFICATES}
    dones = [progress["done"] for progress in midway]
    assert dones == sorted(dones)
    assert seen[-1] == ("SUCCESS", None)
    result = wait_for(lambda: TaskResult.objects.filter(task_id=task_id, status="SUCCESS").first(), what="the job")
    assert f'"issued": {CERTIFICATES}' in result.result
