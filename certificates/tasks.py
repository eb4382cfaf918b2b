"""Certificate tasks (queue `certificates`). Thin: take ids, call a service.

Invariants: generating twice leaves one certificate and one e-mail (row lock + unique
one-to-one in the service); revoking twice revokes once. Database and storage hiccups retry
with backoff; a skip is not an error and is returned with its reason.
"""

import logging

from celery import shared_task

from certificates import services
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


@shared_task(name="certificates.tasks.revoke_certificate", **CERTIFICATE_TASK_OPTIONS)
def revoke_certificate(certificate_id: str, reason: str) -> dict:
    return {
        "certificate_id": certificate_id,
        "revoked": services.certificate_revoke(certificate_id=certificate_id, reason=reason),
    }
