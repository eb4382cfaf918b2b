"""Reads of certificates."""

from django.db.models import QuerySet

from certificates.models import Certificate
from enrollments.models import Enrollment


def certificates_visible_to(*, user) -> QuerySet[Certificate]:
    """The caller's own certificates; staff may open anyone's (but list only their own)."""
    certificates = Certificate.objects.select_related("enrollment")
    return certificates if user.is_staff else certificates.filter(enrollment__student=user)


def certificate_by_number(*, certificate_number: str) -> Certificate | None:
    return Certificate.objects.filter(certificate_number=certificate_number.upper()).first()


def enrollments_missing_certificates(*, course_id=None) -> QuerySet[Enrollment]:
    """Completed enrollments without a certificate: the recovery set if a job was ever lost."""
    missing = Enrollment.objects.filter(status=Enrollment.Status.COMPLETED, certificate__isnull=True)
    if course_id is not None:
        missing = missing.filter(course_id=course_id)
    return missing.order_by("completed_at")
