from django.contrib import admin, messages

from notifications.models import Notification
from notifications.services import notification_requeue


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("subject", "user", "kind", "status", "attempts", "created_at", "sent_at", "read_at")
    list_filter = ("status", "kind", "created_at")
    search_fields = ("user__email", "subject", "dedupe_key")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    date_hierarchy = "created_at"
    readonly_fields = ("id", "dedupe_key", "attachment", "attempts", "last_error", "created_at", "sent_at")
    actions = ["requeue_failed"]

    @admin.action(description="Send failed e-mails again")
    def requeue_failed(self, request, queryset):
        task_ids = [
            task_id
            for notification in queryset.filter(status=Notification.Status.FAILED)
            if (task_id := notification_requeue(notification=notification))
        ]
        self.message_user(
            request,
            f"Queued {len(task_ids)} e-mail(s) again. Task ids: {', '.join(task_ids) or '-'}",
            messages.SUCCESS if task_ids else messages.WARNING,
        )
