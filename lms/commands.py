"""Pieces shared by the management commands."""

import uuid

from django.core.management.base import CommandError


def existing_course_id(value: str) -> uuid.UUID:
    """The value of a --course option: the id of an existing course, or a CommandError saying what
    to do."""
    from courses.models import Course

    try:
        course_id = uuid.UUID(value)
    except ValueError as exc:
        raise CommandError(f"--course takes a course id (UUID), got {value!r}.") from exc
    if not Course.objects.filter(pk=course_id).exists():
        raise CommandError(f"No course with id {course_id}. Course ids are listed in the admin.")
    return course_id
