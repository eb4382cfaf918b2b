"""The same job delivered twice, raced by two workers: one effect."""

from certificates.models import Certificate
from notifications.models import Notification
from tests.faults.data import learners_in_course
from tests.faults.infra import check_invariants, report, send
from tests.processes import wait_for


def test_duplicate_deliveries_raced_by_two_workers_have_one_effect(stack):
    # given two workers with two processes each
    _, enrollments = learners_in_course(6, lessons_done=2)
    stack.worker(concurrency=2)
    stack.worker(concurrency=2)

    # when every certificate job and every welcome e-mail job is published twice with one id
    for enrollment in enrollments:
        for _ in range(2):
            send("certificates.tasks.generate_certificate", str(enrollment.pk), task_id=f"cert-{enrollment.pk}")
            send("notifications.tasks.send_welcome_email", str(enrollment.student_id), task_id=f"hi-{enrollment.pk}")
    report("injected: 24 messages for 12 jobs, consumed by 4 processes in 2 workers")

    # then each job took effect once
    wait_for(
        lambda: (
            Certificate.objects.count() == 6
            and Notification.objects.filter(kind="welcome", status="sent").count() == 6
            and stack.drained()
        ),
        timeout=60,
        what="all jobs",
    )
    counts = check_invariants(stack, label="duplicates raced", expect_certificates=6)
    assert counts["emails"] == 12  # 6 welcome + 6 certificate-ready, each once
