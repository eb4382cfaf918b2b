"""Completing a course through the API -> certificate on the worker -> download + e-mail."""

import json
import time

import pytest
from django_celery_results.models import TaskResult

from enrollments import services
from tests.certificates.helpers import pdf_text
from tests.conftest import client_for
from tests.factories import course_with_lessons
from tests.processes import mail_to, wait_for

pytestmark = pytest.mark.integration


def test_completing_the_last_lesson_issues_a_certificate_on_the_worker(live_worker, learner):
    # given a learner one lesson away from completing a course
    course = course_with_lessons(2, title="Reliable Background Jobs")
    client = client_for(learner)
    enrollment = services.enrollment_create(student=learner, course=course)
    first, last = course.lessons.order_by("position")
    client.post(f"/api/enrollments/{enrollment.pk}/lessons/{first.pk}/complete/")

    # when the last lesson is completed through the API
    started = time.monotonic()
    response = client.post(f"/api/enrollments/{enrollment.pk}/lessons/{last.pk}/complete/")
    assert response.status_code == 200
    assert response.json()["status"] == "completed"

    # then the enrollment shows its certificate within seconds
    certificate = wait_for(
        lambda: client.get(f"/api/enrollments/{enrollment.pk}/").json()["certificate"],
        timeout=15,
        what="the certificate on the enrollment",
    )
    print(f"certificate visible {time.monotonic() - started:.2f}s after the last lesson")

    # and its PDF downloads
    download = client.get(f"/api/certificates/{certificate['id']}/download/")
    assert download.status_code == 200
    assert download["Content-Type"] == "application/pdf"
    text = pdf_text(b"".join(download.streaming_content))
    assert certificate["certificate_number"] in text and "Reliable Background Jobs" in text

    # and the e-mail went out, the jobs having run from the certificates then the emails queue
    wait_for(
        lambda: [m for m in mail_to(live_worker.mail_dir, learner.email) if "certificate" in m["Subject"]],
        what="the certificate e-mail",
    )
    queues = {
        name: json.loads(TaskResult.objects.get(task_name=name, status="SUCCESS").meta)["queue"]
        for name in ("certificates.tasks.generate_certificates", "notifications.tasks.send_notification")
    }
    assert queues == {
        "certificates.tasks.generate_certificates": "certificates",
        "notifications.tasks.send_notification": "emails",
    }
