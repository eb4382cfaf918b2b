"""Issuing, re-rendering and revoking certificates.

Invariants:
- one certificate per enrollment: a one-to-one (unique) column, and issuing holds the
  enrollment's row lock, so concurrent or repeated runs find the first one and skip;
- a certificate is issued only for a completed enrollment; a skip is returned with its reason;
- the PDF is written to storage before the row commits, under a name derived from the
  enrollment, so a retry after a crash overwrites it instead of leaving an orphan, and a failed
  transaction deletes it;
- the learner's "certificate ready" e-mail is one Notification row per certificate, created in
  the same transaction;
- revoking is a guarded conditional update: a second revoke changes nothing and e-mails nobody;
- the e-mailed download link is signed (django.core.signing) and expires after
  CERTIFICATE_LINK_MAX_AGE seconds; it opens the PDF without signing in, never a revoked one.
"""

import hashlib
import logging
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from certificates.models import Certificate
from certificates.pdf import render_certificate_pdf
from enrollments.models import Enrollment
from lms.errors import InvalidInput
from lms.text import display_text_clean
from notifications.models import Notification
from notifications.services import notification_send

logger = logging.getLogger(__name__)

# Crockford's base32 without look-alikes (no I, L, O, U): easy to read out and type.
NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Two groups of four random characters: 32^8 ≈ 10^12 numbers, so one number tells nothing
# about another and guessing a valid one is hopeless (the verify endpoint is throttled too).
NUMBER_GROUPS = 2


@dataclass(frozen=True)
class IssueOutcome:
    certificate: Certificate | None
    created: bool
    reason: str = ""


def certificate_number_generate(*, year: int) -> str:
    groups = ["".join(secrets.choice(NUMBER_ALPHABET) for _ in range(4)) for _ in range(NUMBER_GROUPS)]
    return f"LMS-{year}-{'-'.join(groups)}"


def certificate_verify_url(*, certificate_number: str) -> str:
    return f"{settings.FRONTEND_URL}/certificates/verify/{certificate_number}/"


DOWNLOAD_LINK_SALT = "certificates.download-link"


def certificate_download_link(*, certificate: Certificate) -> str:
    """A link to the PDF that needs no sign-in: the certificate id, signed and timestamped."""
    token = signing.TimestampSigner(salt=DOWNLOAD_LINK_SALT).sign(str(certificate.pk))
    return f"{settings.FRONTEND_URL}/certificates/download/{token}/"


def certificate_from_download_token(*, token: str) -> Certificate:
    """The certificate a download link names; InvalidInput if the link is forged, expired or
    names a certificate deleted since. Reads only."""
    signer = signing.TimestampSigner(salt=DOWNLOAD_LINK_SALT)
    try:
        certificate_id = signer.unsign(token, max_age=settings.CERTIFICATE_LINK_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise InvalidInput("This download link has expired.", field="token") from exc
    except signing.BadSignature as exc:
        raise InvalidInput("This download link is not valid.", field="token") from exc
    certificate = Certificate.objects.filter(pk=certificate_id).first()
    if certificate is None:  # signed by us, so it existed: deleted since
        raise InvalidInput("This certificate no longer exists.", field="token")
    return certificate


def _pdf_name(enrollment_id) -> str:
    return f"certificates/{enrollment_id}.pdf"


def _write_pdf(certificate: Certificate) -> None:
    """Render and store the PDF of `certificate` (overwriting), setting `pdf` and `sha256`."""
    content = render_certificate_pdf(
        learner_name=certificate.learner_name,
        course_title=certificate.course_title,
        completed_on=timezone.localdate(certificate.enrollment.completed_at or certificate.issued_at),
        certificate_number=certificate.certificate_number,
        verify_url=certificate_verify_url(certificate_number=certificate.certificate_number),
    )
    name = _pdf_name(certificate.enrollment_id)
    if default_storage.exists(name):
        default_storage.delete(name)
    certificate.pdf.name = default_storage.save(name, ContentFile(content))
    certificate.sha256 = hashlib.sha256(content).hexdigest()


def _unused_number(year: int) -> str:
    while Certificate.objects.filter(certificate_number=(number := certificate_number_generate(year=year))).exists():
        logger.warning("Certificate number %s already taken; drawing another", number)
    return number


def certificate_issue(*, enrollment_id) -> IssueOutcome:
    """Issue the certificate of a completed enrollment, once."""
    written: str | None = None
    try:
        with transaction.atomic():
            enrollment = (
                Enrollment.objects.select_for_update(of=("self",))
                .select_related("student", "course")
                .filter(pk=enrollment_id)
                .first()
            )
            if enrollment is None:
                return IssueOutcome(None, False, "enrollment no longer exists")
            existing = Certificate.objects.filter(enrollment=enrollment).first()
            if existing is not None:
                return IssueOutcome(existing, False, "already issued")
            if enrollment.status != Enrollment.Status.COMPLETED:
                return IssueOutcome(None, False, f"enrollment is {enrollment.status}, not completed")

            now = timezone.now()
            certificate = Certificate(
                enrollment=enrollment,
                certificate_number=_unused_number(now.year),
                learner_name=display_text_clean(enrollment.student.full_name) or enrollment.student.email,
                course_title=display_text_clean(enrollment.course.title),
                issued_at=now,
            )
            _write_pdf(certificate)
            written = certificate.pdf.name
            certificate.save(force_insert=True)
            notification_send(
                user=enrollment.student,
                kind=Notification.Kind.CERTIFICATE_READY,
                dedupe_key=f"certificate_ready:{certificate.pk}",
                context={
                    "certificate": certificate,
                    "verify_url": certificate_verify_url(certificate_number=certificate.certificate_number),
                    "download_url": certificate_download_link(certificate=certificate),
                    "link_days": settings.CERTIFICATE_LINK_MAX_AGE // (24 * 60 * 60),
                },
            )
    except BaseException:
        if written:  # the row did not commit: its file must not outlive it
            default_storage.delete(written)
        raise
    logger.info("Issued certificate %s for enrollment %s", certificate.certificate_number, enrollment_id)
    return IssueOutcome(certificate, True)


def certificate_regenerate_pdf(*, certificate_id) -> Certificate | None:
    """Render the PDF again from the certificate's stored facts (same number, same name)."""
    with transaction.atomic():
        certificate = (
            Certificate.objects.select_for_update(of=("self",))
            .select_related("enrollment")
            .filter(pk=certificate_id)
            .first()
        )
        if certificate is None:
            return None
        _write_pdf(certificate)
        certificate.save(update_fields=["pdf", "sha256"])
    return certificate


def certificate_revoke(*, certificate_id, reason: str) -> bool:
    """Revoke and tell the learner. Returns False if it was already revoked (or is gone)."""
    with transaction.atomic():
        revoked = Certificate.objects.filter(pk=certificate_id, is_revoked=False).update(
            is_revoked=True, revoked_at=timezone.now(), revoke_reason=reason
        )
        if not revoked:
            return False
        certificate = Certificate.objects.select_related("enrollment__student").get(pk=certificate_id)
        notification_send(
            user=certificate.enrollment.student,
            kind=Notification.Kind.CERTIFICATE_REVOKED,
            dedupe_key=f"certificate_revoked:{certificate.pk}",
            context={
                "certificate": certificate,
                "verify_url": certificate_verify_url(certificate_number=certificate.certificate_number),
            },
        )
    logger.info("Revoked certificate %s: %s", certificate.certificate_number, reason)
    return True
