from django.contrib import admin, messages
from django.db.models import Count

from courses.models import Course, Lesson


class LessonInline(admin.TabularInline):
    model = Lesson
    extra = 1
    fields = ("position", "title", "content")
    ordering = ("position",)


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "is_published", "lesson_count", "updated_at")
    list_filter = ("is_published", "created_at")
    search_fields = ("title", "slug", "description")
    prepopulated_fields = {"slug": ("title",)}
    inlines = [LessonInline]
    actions = ["recalculate_progress"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_lesson_count=Count("lessons"))

    @admin.display(description="Lessons", ordering="_lesson_count")
    def lesson_count(self, obj):
        return obj._lesson_count

    @admin.action(description="Recalculate learners' progress (background job)")
    def recalculate_progress(self, request, queryset):
        from enrollments.services import course_progress_recalculate_later

        task_ids = [course_progress_recalculate_later(course_id=course.pk) for course in queryset]
        self.message_user(
            request, f"Queued {len(task_ids)} recalculation(s). Task ids: {', '.join(task_ids)}", messages.SUCCESS
        )


@admin.register(Lesson)
class LessonAdmin(admin.ModelAdmin):
    list_display = ("title", "course", "position")
    list_filter = ("course",)
    search_fields = ("title", "course__title")
    list_select_related = ("course",)
