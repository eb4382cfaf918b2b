"""Courses with learners in every state an announcement must tell apart, built without signals
(no welcome or enrollment e-mail is queued behind the test's back)."""

from dataclasses import dataclass

from courses.models import Course
from enrollments.models import Enrollment
from lms.users.models import User
from notifications.models import NotificationPreference
from tests.factories import CourseFactory


@dataclass
class Audience:
    course: Course
    active: list[User]
    completed: list[User]
    dropped: list[User]
    inactive: list[User]  # active enrollment, deactivated account
    opted_out: list[User]  # active enrollment, course announcements off
    other_course: list[User]  # enrolled elsewhere only

    @property
    def recipients(self) -> list[User]:
        return [*self.active, *self.completed]


def _users(prefix: str, n: int, **fields) -> list[User]:
    return User.objects.bulk_create(
        User(email=f"{prefix}-{i}@example.com", full_name=f"{prefix.title()} {i}", is_verified=True, **fields)
        for i in range(n)
    )


def _enroll(course: Course, users: list[User], status: str) -> None:
    Enrollment.objects.bulk_create(Enrollment(student=u, course=course, status=status) for u in users)


def audience(*, active: int = 3, completed: int = 2, prefix: str = "a") -> Audience:
    course, other = CourseFactory(title="Distributed Systems"), CourseFactory(title="Other")
    world = Audience(
        course=course,
        active=_users(f"{prefix}active", active),
        completed=_users(f"{prefix}completed", completed),
        dropped=_users(f"{prefix}dropped", 1),
        inactive=_users(f"{prefix}inactive", 1, is_active=False),
        opted_out=_users(f"{prefix}optedout", 1),
        other_course=_users(f"{prefix}other", 1),
    )
    _enroll(course, world.active + world.inactive + world.opted_out, Enrollment.Status.ACTIVE)
    _enroll(course, world.completed, Enrollment.Status.COMPLETED)
    _enroll(course, world.dropped, Enrollment.Status.DROPPED)
    _enroll(other, world.other_course, Enrollment.Status.ACTIVE)
    NotificationPreference.objects.bulk_create(
        NotificationPreference(user=u, course_announcements=False) for u in world.opted_out
    )
    return world
