from django.contrib import admin

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
