"""Reads of enrollments for other apps."""

from enrollments.models import Enrollment


def enrollment_get(*, enrollment_id) -> Enrollment | None:
    return Enrollment.objects.select_related("student", "course").filter(pk=enrollment_id).first()
