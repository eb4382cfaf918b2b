"""Data for fault scenarios, built without signals so no job is queued behind the test's back."""

from courses.models import Course
from enrollments import services
from enrollments.models import Enrollment, LessonProgress
from lms.users.models import User
from tests.certificates.helpers import certificate_jobs_off
from tests.factories import DEFAULT_PASSWORD, course_with_lessons


def learners_in_course(n: int, *, lessons_done: int, lessons: int = 2, title: str = "Reliable Background Jobs"):
    """`n` learners enrolled in a new course with `lessons_done` of its lessons completed."""
    course = learners_with_stale_progress(n, lessons_done=lessons_done, lessons=lessons, title=title)
    with certificate_jobs_off():
        services.course_progress_recalculate(course_id=course.pk)
    return Course.objects.get(pk=course.pk), list(Enrollment.objects.filter(course=course).select_related("student"))


def learners_with_stale_progress(
    n: int, *, lessons_done: int, lessons: int = 2, title: str = "Bulk Completions", passwords: bool = True
):
    """A new course whose `n` learners have done `lessons_done` lessons while their stored
    figures still say 0 % and active: the next recalculation completes them all at once (when
    `lessons_done == lessons`). Built in bulk, without signals; `passwords=False` leaves the
    learners unable to log in (hashing thousands of passwords takes minutes)."""
    course = course_with_lessons(lessons, title=title)
    users = User.objects.bulk_create(
        User(email=f"fault-{course.slug}-{i}@example.com", full_name=f"Learner {i}", is_verified=True) for i in range(n)
    )
    if passwords:
        for user in users:
            user.set_password(DEFAULT_PASSWORD)
        User.objects.bulk_update(users, ["password"])
    enrollments = Enrollment.objects.bulk_create(Enrollment(student=user, course=course) for user in users)
    done = list(course.lessons.order_by("position")[:lessons_done])
    LessonProgress.objects.bulk_create(
        LessonProgress(enrollment=e, lesson=lesson) for e in enrollments for lesson in done
    )
    return course
