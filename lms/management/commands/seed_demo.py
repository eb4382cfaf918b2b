"""Create demo data for a newcomer's first run. Idempotent: running it again changes nothing.

Everything goes through the services, so the demo shows the real behaviour: confirmation
e-mails in var/mail/, progress figures, and certificates for completed enrollments.
"""

from django.conf import settings
from django.core.management.base import BaseCommand

from courses.models import Course, Lesson
from enrollments.models import Enrollment
from enrollments.services import enrollment_complete_lesson, enrollment_create
from lms.users.models import User

DEMO_ADMIN_EMAIL = "admin@example.com"
DEMO_LEARNER_EMAIL = "learner@example.com"

COURSES = [
    (
        "python-for-data-analysis",
        "Python for Data Analysis",
        "From lists to pandas: load, clean, explore and plot real data sets.",
        ["Why Python for data", "Lists, dicts and comprehensions", "NumPy arrays", "pandas DataFrames",
         "Cleaning messy data", "Grouping and aggregating", "Plotting with matplotlib"],
    ),
    (
        "django-from-zero",
        "Django from Zero",
        "Build and ship a web application with Django, one working increment at a time.",
        ["Projects and apps", "Models and migrations", "The admin", "Views and URLs", "Templates",
         "Forms and validation", "Testing with pytest", "Deploying"],
    ),
    (
        "reliable-background-jobs",
        "Reliable Background Jobs",
        "Celery in production: idempotent tasks, retries, time limits and monitoring.",
        ["Queues and workers", "Idempotency", "Retries with backoff", "Time limits", "Monitoring with Flower"],
    ),
]  # fmt: skip

# (learner e-mail, full name, {course slug: lessons completed; -1 = all})
LEARNERS = [
    (DEMO_LEARNER_EMAIL, "Demo Learner", {"python-for-data-analysis": 3, "reliable-background-jobs": -1}),
    ("grace@example.com", "Grace Hopper", {"django-from-zero": -1, "reliable-background-jobs": 2}),
    ("alan@example.com", "Alan Turing", {"python-for-data-analysis": 1}),
    ("katherine@example.com", "Katherine Johnson", {"django-from-zero": 5, "python-for-data-analysis": -1}),
]


class Command(BaseCommand):
    help = "Create demo accounts, courses and enrollments at various progress (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            default="demo-password-2026",
            help="Password for the demo accounts when they are created (default: %(default)s).",
        )

    def handle(self, *args, password: str, **options):
        created_users = self._user(DEMO_ADMIN_EMAIL, "Demo Admin", password, staff=True)
        courses = {
            slug: self._course(slug, title, description, lessons) for slug, title, description, lessons in COURSES
        }
        created_enrollments = 0
        for email, name, progress in LEARNERS:
            created_users += self._user(email, name, password)
            student = User.objects.get(email=email)
            for slug, lessons_done in progress.items():
                created_enrollments += self._enrollment(student, courses[slug], lessons_done)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready: {created_users} account(s) and {created_enrollments} enrollment(s) created, "
                f"{len(courses)} courses."
            )
            + f"\n  admin:   {DEMO_ADMIN_EMAIL} / {password}  -> {settings.FRONTEND_URL}/admin/"
            + f"\n  learner: {DEMO_LEARNER_EMAIL} / {password}"
            + f"\n  API docs: {settings.FRONTEND_URL}/api/docs/"
            + "\n  (passwords apply to accounts this command created)"
        )

    def _user(self, email: str, full_name: str, password: str, *, staff: bool = False) -> int:
        if User.objects.filter(email=email).exists():
            return 0
        if staff:
            User.objects.create_superuser(email=email, password=password, full_name=full_name)
        else:
            User.objects.create_user(email=email, password=password, full_name=full_name, is_verified=True)
        return 1

    def _course(self, slug: str, title: str, description: str, lessons: list[str]) -> Course:
        course, _ = Course.objects.get_or_create(
            slug=slug, defaults={"title": title, "description": description, "is_published": True}
        )
        for position, lesson_title in enumerate(lessons, start=1):
            Lesson.objects.get_or_create(
                course=course, position=position, defaults={"title": lesson_title, "content": f"{lesson_title}."}
            )
        return course

    def _enrollment(self, student: User, course: Course, lessons_done: int) -> int:
        if Enrollment.objects.filter(student=student, course=course).exists():
            return 0
        enrollment = enrollment_create(student=student, course=course)
        lessons = list(course.lessons.order_by("position"))
        for lesson in lessons if lessons_done < 0 else lessons[:lessons_done]:
            enrollment = enrollment_complete_lesson(enrollment=enrollment, lesson_id=lesson.pk)
        return 1
