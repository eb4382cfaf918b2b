"""Issuing, re-rendering and revoking certificates.

Invariants:
- one certificate per enrollment: a one-to-one (unique) column, and issuing holds the
  enrollment's row lock, so concurrent or repeated runs find the first one and skip; a batch
  (certificates_issue_many, the fan-out path) locks its enrollments in id order, so batches
  and single issues never deadlock;
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

from celery.exceptions import SoftTimeLimitExceeded
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
from lms.jobs.dispatch import dispatch_many_on_commit
from lms.text import display_text_clean
from notifications.models import Notification
from notifications.services import notification_send, notifications_send_new

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


def _unused_numbers(year: int, count: int) -> list[str]:
    """`count` certificate numbers no certificate has: one look-up per draw of them all."""
    numbers: set[str] = set()
    while len(numbers) < count:
        drawn = {certificate_number_generate(year=year) for _ in range(count - len(numbers))} - numbers
        taken = set(
            Certificate.objects.filter(certificate_number__in=drawn).values_list("certificate_number", flat=True)
        )
        for number in taken:
            logger.warning("Certificate number %s already taken; drawing another", number)
        numbers |= drawn - taken
    return sorted(numbers)


def _locked_enrollments(enrollment_ids: list) -> list[Enrollment]:
    """The enrollments with their learner and course, row-locked in id order (two batches never
    deadlock), each with `existing_certificate`: its certificate, or None.

    The certificates are read by a second statement, after the locks are held: a statement that
    waited for a lock sees the locked row as it is now, but the rows it joined as they were when
    it started, so a certificate committed by the run it waited for would be missed.
    """
    enrollments = list(
        Enrollment.objects.select_for_update(of=("self",))
        .select_related("student", "course")
        .filter(pk__in=enrollment_ids)
        .order_by("pk")
    )
    certificates = Certificate.objects.filter(enrollment__in=enrollments) if enrollments else ()
    existing = {certificate.enrollment_id: certificate for certificate in certificates}
    for enrollment in enrollments:
        enrollment.existing_certificate = existing.get(enrollment.pk)
    return enrollments


def _skip_reason(enrollment: Enrollment) -> str:
    """Why `enrollment` gets no new certificate ("" when it gets one)."""
    if enrollment.existing_certificate is not None:
        return "already issued"
    if enrollment.status != Enrollment.Status.COMPLETED:
        return f"enrollment is {enrollment.status}, not completed"
    return ""


def _new_certificate(enrollment: Enrollment, *, number: str, now) -> Certificate:
    return Certificate(
        enrollment=enrollment,
        certificate_number=number,
        learner_name=display_text_clean(enrollment.student.full_name) or enrollment.student.email,
        course_title=display_text_clean(enrollment.course.title),
        issued_at=now,
    )


def _send_ready_emails(certificates: list[Certificate]) -> None:
    """Each new certificate's "certificate ready" Notification, and its e-mail after commit."""
    notifications_send_new(
        kind=Notification.Kind.CERTIFICATE_READY,
        events=[
            (
                certificate.enrollment.student,
                f"certificate_ready:{certificate.pk}",
                {
                    "certificate": certificate,
                    "verify_url": certificate_verify_url(certificate_number=certificate.certificate_number),
                    "download_url": certificate_download_link(certificate=certificate),
                    "link_days": settings.CERTIFICATE_LINK_MAX_AGE // (24 * 60 * 60),
                },
            )
            for certificate in certificates
        ],
    )


def certificate_issue(*, enrollment_id) -> IssueOutcome:
    """Issue the certificate of a completed enrollment, once."""
    written: str | None = None
    try:
        with transaction.atomic():
            enrollment = next(iter(_locked_enrollments([enrollment_id])), None)
            if enrollment is None:
                return IssueOutcome(None, False, "enrollment no longer exists")
            if reason := _skip_reason(enrollment):
                return IssueOutcome(enrollment.existing_certificate, False, reason)

            now = timezone.now()
            certificate = _new_certificate(enrollment, number=_unused_numbers(now.year, 1)[0], now=now)
            _write_pdf(certificate)
            written = certificate.pdf.name
            certificate.save(force_insert=True)
            _send_ready_emails([certificate])
    except BaseException:
        if written:  # the row did not commit: its file must not outlive it
            default_storage.delete(written)
        raise
    logger.info("Issued certificate %s for enrollment %s", certificate.certificate_number, enrollment_id)
    return IssueOutcome(certificate, True)


@dataclass(frozen=True)
class BatchOutcome:
    """What one batch did, by enrollment id: issued (the new certificate), skipped (why) and
    failed (the render error; that enrollment was queued alone as generate_certificate)."""

    issued: dict[str, Certificate]
    skipped: dict[str, str]
    failed: dict[str, str]


def certificates_issue_many(*, enrollment_ids) -> BatchOutcome:
    """Issue the certificates of many completed enrollments at once, each once: the fan-out path
    (a recalculation completing thousands of enrollments).

    Per enrollment, the invariants of certificate_issue hold; per batch, the statements are a
    constant number whatever its size: one query locking the enrollments (with their learners
    and courses), one reading their certificates, one look-up of the drawn numbers, one INSERT
    of the certificates, one of their Notifications, one outbox INSERT of the e-mails, one
    commit.
    A PDF that fails to render (a bug, not storage) leaves its enrollment to a job of its own
    (generate_certificate, queued in this transaction, with its own retries and result), so one
    bad name never holds back the rest; a storage or database error fails the batch whole, and
    its retry starts again from what committed (nothing).
    """
    from certificates.tasks import generate_certificate as generate_certificate_task

    ids = list(dict.fromkeys(str(enrollment_id) for enrollment_id in enrollment_ids))
    written: list[str] = []
    try:
        with transaction.atomic():
            enrollments = _locked_enrollments(ids)
            found = {str(enrollment.pk) for enrollment in enrollments}
            skipped = {pk: "enrollment no longer exists" for pk in ids if pk not in found}
            eligible = []
            for enrollment in enrollments:
                if reason := _skip_reason(enrollment):
                    skipped[str(enrollment.pk)] = reason
                else:
                    eligible.append(enrollment)

            now = timezone.now()
            certificates, failed = [], {}
            for enrollment, number in zip(eligible, _unused_numbers(now.year, len(eligible)), strict=True):
                certificate = _new_certificate(enrollment, number=number, now=now)
                try:
                    _write_pdf(certificate)
                except (OSError, SoftTimeLimitExceeded):
                    raise
                except Exception as exc:
                    logger.exception("Certificate of enrollment %s failed to render; queued on its own", enrollment.pk)
                    failed[str(enrollment.pk)] = f"{type(exc).__name__}: {exc}"
                    continue
                written.append(certificate.pdf.name)
                certificates.append(certificate)
            Certificate.objects.bulk_create(certificates)
            _send_ready_emails(certificates)
            dispatch_many_on_commit(generate_certificate_task, [(pk,) for pk in failed])
    except BaseException:
        for name in written:  # the rows did not commit: their files must not outlive them
            default_storage.delete(name)
        raise
    logger.info(
        "Issued %d certificate(s), skipped %d, %d left to their own job", len(certificates), len(skipped), len(failed)
    )
    return BatchOutcome(
        issued={str(certificate.enrollment_id): certificate for certificate in certificates},
        skipped=skipped,
        failed=failed,
    )


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
