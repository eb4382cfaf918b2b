from django.contrib import admin

from enrollments.models import CourseActivity, Enrollment, LessonProgress


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ("student", "course", "status", "progress_percentage", "enrolled_at", "completed_at")
    list_filter = ("status", "course", "enrolled_at")
    search_fields = ("student__email", "course__title")
    list_select_related = ("student", "course")
    raw_id_fields = ("student",)
    readonly_fields = (
        "progress_percentage", "completed_lessons_count", "total_lessons_count", "completed_at", "updated_at",
    )  # fmt: skip
    date_hierarchy = "enrolled_at"


@admin.register(LessonProgress)
class LessonProgressAdmin(admin.ModelAdmin):
    list_display = ("enrollment", "lesson", "completed_at")
    list_select_related = ("enrollment", "lesson")
    raw_id_fields = ("enrollment", "lesson")
    date_hierarchy = "completed_at"


@admin.register(CourseActivity)
class CourseActivityAdmin(admin.ModelAdmin):
    list_display = (
        "course", "granularity", "period_start", "new_enrollments", "completions", "active_learners",
        "certificates_issued", "computed_at",
    )  # fmt: skip
    list_filter = ("granularity", "course")
    list_select_related = ("course",)
    date_hierarchy = "period_start"

    def has_add_permission(self, request):
        return False  # computed by the analytics tasks, never typed in

    def has_change_permission(self, request, obj=None):
        return False
