"""Certificate tasks (queue `certificates`). Thin: take ids, call a service.

Invariants: generating twice leaves one certificate and one e-mail (row lock + unique
one-to-one in the service); revoking twice revokes once. Database and storage hiccups retry
with backoff; a skip is not an error and is returned with its reason.
"""

import logging

from celery import shared_task
from django.conf import settings

from certificates import services
from certificates.selectors import enrollments_missing_certificates
from lms.jobs.progress import job_progress
from lms.jobs.task_base import DB_RETRY_OPTIONS

logger = logging.getLogger(__name__)

CERTIFICATE_TASK_OPTIONS = {
    **DB_RETRY_OPTIONS,
    # Storage (a full or remounting disk, a flaky object store) can fail transiently too.
    "autoretry_for": (*DB_RETRY_OPTIONS["autoretry_for"], OSError),
    "soft_time_limit": 60,
    "time_limit": 120,
}


@shared_task(name="certificates.tasks.generate_certificate", **CERTIFICATE_TASK_OPTIONS)
def generate_certificate(enrollment_id: str, regenerate: bool = False) -> dict:
    outcome = services.certificate_issue(enrollment_id=enrollment_id)
    if outcome.certificate is not None and not outcome.created and regenerate:
        services.certificate_regenerate_pdf(certificate_id=outcome.certificate.pk)
        return {"certificate_id": str(outcome.certificate.pk), "regenerated": True}
    if outcome.created:
        return {"certificate_id": str(outcome.certificate.pk), "number": outcome.certificate.certificate_number}
    logger.info("Skipped certificate for enrollment %s: %s", enrollment_id, outcome.reason)
    return {"skipped": outcome.reason, "certificate_id": str(outcome.certificate.pk) if outcome.certificate else None}


@shared_task(name="certificates.tasks.generate_certificates", **CERTIFICATE_TASK_OPTIONS)
def generate_certificates(enrollment_ids: list[str]) -> dict:
    """The certificates of up to CERTIFICATES_PER_JOB enrollments in one job (the fan-out path):
    one message, one result and one commit for them all. Each is still issued once; a re-run
    skips those issued, and one that fails to render continues as a job of its own."""
    outcome = services.certificates_issue_many(enrollment_ids=enrollment_ids)
    return {
        "issued": {enrollment_id: cert.certificate_number for enrollment_id, cert in outcome.issued.items()},
        "skipped": outcome.skipped,
        "failed": outcome.failed,
    }


def certificate_batches(enrollment_ids) -> list[tuple[list[str]]]:
    """`enrollment_ids` as argument tuples of generate_certificates, CERTIFICATES_PER_JOB a job."""
    ids = [str(enrollment_id) for enrollment_id in enrollment_ids]
    size = settings.CERTIFICATES_PER_JOB
    return [(ids[start : start + size],) for start in range(0, len(ids), size)]


@shared_task(name="certificates.tasks.revoke_certificate", **CERTIFICATE_TASK_OPTIONS)
def revoke_certificate(certificate_id: str, reason: str) -> dict:
    return {
        "certificate_id": certificate_id,
        "revoked": services.certificate_revoke(certificate_id=certificate_id, reason=reason),
    }


# Certificates one run of issue_course_certificates issues (10-50 ms each with the PDF), well
# inside its time limit; the rest go to the follow-up job it queues.
CERTIFICATES_PER_RUN = 5000


@shared_task(
    name="certificates.tasks.issue_course_certificates",
    **{**CERTIFICATE_TASK_OPTIONS, "soft_time_limit": 10 * 60, "time_limit": 11 * 60},
)
def issue_course_certificates(course_id: str) -> dict:
    """Issue every missing certificate of a course in this one job, reporting {done, total}
    (lms.jobs.progress); past CERTIFICATES_PER_RUN it re-queues itself (`continued_as`)."""
    from lms.jobs.dispatch import dispatch_on_commit

    missing = enrollments_missing_certificates(course_id=course_id)
    ids = list(missing.values_list("pk", flat=True)[:CERTIFICATES_PER_RUN])
    issued = skipped = done = 0
    job_progress(done=0, total=len(ids), force=True)
    for (batch,) in certificate_batches(ids):
        outcome = services.certificates_issue_many(enrollment_ids=batch)
        issued += len(outcome.issued)
        skipped += len(outcome.skipped) + len(outcome.failed)
        done += len(batch)
        job_progress(done=done, total=len(ids))
    summary = {"course_id": course_id, "issued": issued, "skipped": skipped, "continued_as": None}
    if len(ids) == CERTIFICATES_PER_RUN and missing.exists():
        summary["continued_as"] = dispatch_on_commit(issue_course_certificates, course_id)
    return summary
