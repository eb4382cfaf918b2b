import factory

from lms.users.models import User

DEFAULT_PASSWORD = "a-Long-enough-passw0rd"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"learner{n}@example.com")
    full_name = factory.Faker("name")
    is_verified = True
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PASSWORD)

    @factory.post_generation
    def _save_password(self, create, extracted, **kwargs):
        if create:
            self.save(update_fields=["password"])


class StaffFactory(UserFactory):
    is_staff = True


class CourseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "courses.Course"

    title = factory.Sequence(lambda n: f"Course {n}")
    slug = factory.Sequence(lambda n: f"course-{n}")
    description = "A course."
    is_published = True


class LessonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "courses.Lesson"

    course = factory.SubFactory(CourseFactory)
    title = factory.Sequence(lambda n: f"Lesson {n}")
    position = factory.Sequence(lambda n: n + 1)


def course_with_lessons(n: int, **kwargs):
    """A published course with lessons at positions 1..n."""
    from courses.models import Course, Lesson

    course = CourseFactory(**kwargs)
    Lesson.objects.bulk_create(Lesson(course=course, title=f"Lesson {i}", position=i) for i in range(1, n + 1))
    return Course.objects.get(pk=course.pk)


def notification_created_at(user, created_at):
    """A notification row dated `created_at` (the field is auto_now_add: set after creation)."""
    import uuid

    from notifications.models import Notification
    from notifications.services import notification_create

    notification = notification_create(user=user, kind=Notification.Kind.WELCOME, dedupe_key=f"test:{uuid.uuid4()}")
    Notification.objects.filter(pk=notification.pk).update(created_at=created_at)
    return Notification.objects.get(pk=notification.pk)


def task_result_done_at(date_done, *, task_name: str = "lms.tasks.dispatch_outbox"):
    """A stored task result finished at `date_done` (the field is auto_now: set after creation)."""
    import uuid

    from django_celery_results.models import TaskResult

    result = TaskResult.objects.create(task_id=str(uuid.uuid4()), task_name=task_name, status="SUCCESS", result="{}")
    TaskResult.objects.filter(pk=result.pk).update(date_done=date_done)
    return TaskResult.objects.get(pk=result.pk)
