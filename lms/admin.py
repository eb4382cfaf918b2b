from django.contrib import admin, messages
from django.utils.html import format_html
from django_celery_results.admin import TaskResultAdmin
from django_celery_results.models import TaskResult

from lms.jobs.rerun import task_results_rerun
from lms.jobs.results import result_meta
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


# The admin's home page links to the operator's queues page (/admin/jobs/, lms.admin_jobs).
admin.site.index_template = "admin/lms_index.html"

# Task results, with the queue that delivered each job as a column (LmsTask records it in the
# result's meta; django-celery-results shows it only inside the meta JSON of one result).
admin.site.unregister(TaskResult)


@admin.register(TaskResult)
class TaskResultWithQueueAdmin(TaskResultAdmin):
    list_display = (*TaskResultAdmin.list_display, "queue", "progress_bar", "rerun_as")
    actions = (*(TaskResultAdmin.actions or ()), "rerun_failed")

    @admin.display(description="Queue")
    def queue(self, result: TaskResult) -> str:
        return result_meta(result).get("queue") or "-"

    @admin.display(description="Progress")
    def progress_bar(self, result: TaskResult) -> str:
        """A bar of `{done, total}` while a long job runs (lms.jobs.progress)."""
        progress = result_meta(result).get("progress")
        if result.status in ("SUCCESS", "FAILURE", "REVOKED") or not isinstance(progress, dict):
            return "-"
        done, total = progress.get("done") or 0, progress.get("total")
        if not total:
            return f"{done} done"
        percent = min(100, round(100 * done / total))
        return format_html(
            '<progress value="{}" max="{}" title="{} of {}">{}%</progress> {} / {}',
            done, total, done, total, percent, done, total,
        )  # fmt: skip

    @admin.display(description="Re-run as")
    def rerun_as(self, result: TaskResult) -> str:
        new_id = result_meta(result).get("rerun_as")
        return new_id or "-"

    @admin.action(description="Re-run selected failed jobs")
    def rerun_failed(self, request, queryset):
        outcomes = task_results_rerun(task_ids=list(queryset.values_list("task_id", flat=True)))
        queued = [o for o in outcomes if o.new_id]
        refused = [o for o in outcomes if not o.new_id]
        if queued:
            ids = ", ".join(f"{o.task_id} -> {o.new_id}" for o in queued)
            self.message_user(request, f"Re-ran {len(queued)} failed job(s) under new ids: {ids}", messages.SUCCESS)
        for outcome in refused:
            self.message_user(request, f"Not re-run: {outcome.task_id}: {outcome.error}", messages.WARNING)
