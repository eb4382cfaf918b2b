"""Reads of the course catalogue."""

from django.db.models import Count, Prefetch, Q, QuerySet

from courses.models import Course, Lesson


def course_list(*, search: str = "", include_unpublished: bool = False) -> QuerySet[Course]:
    courses = Course.objects.annotate(lesson_count=Count("lessons"))
    if not include_unpublished:
        courses = courses.filter(is_published=True)
    if search:
        courses = courses.filter(Q(title__icontains=search) | Q(description__icontains=search))
    return courses.order_by("title")


def course_detail_queryset(*, include_unpublished: bool = False) -> QuerySet[Course]:
    return course_list(include_unpublished=include_unpublished).prefetch_related(
        Prefetch("lessons", queryset=Lesson.objects.order_by("position").only("id", "title", "position", "course_id"))
    )


def course_get_published(*, course_id) -> Course | None:
    return Course.objects.filter(pk=course_id, is_published=True).first()
