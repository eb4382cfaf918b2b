"""Completion -> certificate. The receiver only enqueues, after commit: one job per enrollment
(each its own task id, outbox row and result), dispatched as one batch however many completed."""

from django.dispatch import receiver

from certificates.tasks import generate_certificate as generate_certificate_task
from enrollments.events import enrollments_completed
from lms.jobs.dispatch import dispatch_many_on_commit


@receiver(enrollments_completed, dispatch_uid="certificates.enrollments_completed")
def enrollments_completed_certificates(sender, enrollment_ids, **kwargs):
    dispatch_many_on_commit(generate_certificate_task, [(str(enrollment_id),) for enrollment_id in enrollment_ids])
