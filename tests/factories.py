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
