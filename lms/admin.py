import json

from django.contrib import admin
from django_celery_results.admin import TaskResultAdmin
from django_celery_results.models import TaskResult

from lms.models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    """Jobs waiting for the broker. Normally empty: rows appear only while the broker is down."""

    list_display = ("task_name", "id", "created_at", "attempts", "last_error")
    list_filter = ("task_name",)
    search_fields = ("id", "task_name")
    readonly_fields = ("id", "task_name", "args", "kwargs", "created_at", "attempts", "last_error")

    def has_add_permission(self, request):
        return False


# Task results, with the queue that delivered each job as a column (LmsTask records it in the
# result's meta; django-celery-results shows it only inside the meta JSON of one result).
admin.site.unregister(TaskResult)


@admin.register(TaskResult)
class TaskResultWithQueueAdmin(TaskResultAdmin):
    list_display = (*TaskResultAdmin.list_display, "queue")

    @admin.display(description="Queue")
    def queue(self, result: TaskResult) -> str:
        try:
            return (json.loads(result.meta or "{}") or {}).get("queue") or "-"
        except (TypeError, ValueError):
            return "-"
