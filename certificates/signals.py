"""Completion -> certificates. The receiver only enqueues, after commit: the completed
enrollments in generate_certificates jobs of CERTIFICATES_PER_JOB each, dispatched as one batch
however many completed (each job its own task id, outbox row and result)."""

from django.dispatch import receiver

from certificates.tasks import certificate_batches
from certificates.tasks import generate_certificates as generate_certificates_task
from enrollments.events import enrollments_completed
from lms.jobs.dispatch import dispatch_many_on_commit


@receiver(enrollments_completed, dispatch_uid="certificates.enrollments_completed")
def enrollments_completed_certificates(sender, enrollment_ids, **kwargs):
    dispatch_many_on_commit(generate_certificates_task, certificate_batches(enrollment_ids))
