from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from lms.errors import DomainError
from notifications.announcements import services as announcement_services
from notifications.models import Announcement, Notification, NotificationPreference
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


# --- Course announcements -------------------------------------------------------------------


class AnnouncementForm(forms.ModelForm):
    class Meta:
        model = Announcement
        fields = ["course", "subject", "body", "audience", "send_at"]

    def clean(self):
        # The service's own rules (blank subject or body, send_at in the past), shown on the form
        # instead of failing after it was accepted.
        data = super().clean()
        if "subject" not in self.fields:  # started or cancelled: every field is read-only
            return data
        try:
            announcement_services.announcement_validate(
                subject=data.get("subject") or "", body=data.get("body") or "", send_at=data.get("send_at")
            )
        except DomainError as error:
            raise forms.ValidationError({error.field: error.message} if error.field else error.message) from error
        return data


@admin.register(Announcement)
class AnnouncementAdmin(admin.ModelAdmin):
    """Create (send now, or schedule with send_at), edit while scheduled, pause, resume, cancel."""

    form = AnnouncementForm
    list_display = ("subject", "course", "status", "progress", "send_at", "created_at", "finished_at")
    list_filter = ("status", "audience", "created_at")
    search_fields = ("subject", "course__title")
    raw_id_fields = ("course",)
    actions = ["pause", "resume", "cancel"]
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return announcement_services.announcement_queryset()

    def get_readonly_fields(self, request, obj=None):
        counters = ("status", "progress", "recipients_total", "started_at", "finished_at", "created_by")
        if obj is None:
            return ()
        if obj.status != Announcement.Status.SCHEDULED:
            return ("course", "subject", "body", "audience", "send_at", *counters)
        return ("course", *counters)

    def get_fields(self, request, obj=None):
        fields = ["course", "subject", "body", "audience", "send_at"]
        if obj is not None:
            fields += ["status", "progress", "recipients_total", "started_at", "finished_at", "created_by"]
        return fields

    @admin.display(description="Progress")
    def progress(self, obj):
        sent = getattr(obj, "sent_count", 0)
        done = sent + getattr(obj, "failed_count", 0)
        total = obj.recipients_total
        if not obj.fanned_out_at:
            return "—"
        return format_html(
            '<progress value="{}" max="{}" style="width: 120px"></progress> {} / {} sent{}',
            done, max(total, 1), sent, total,
            format_html(", {} failed, {} skipped", obj.failed_count, obj.skipped_count)
            if obj.failed_count or obj.skipped_count else "",
        )  # fmt: skip

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if change:
                announcement_services.announcement_update(
                    announcement=obj, subject=data["subject"], body=data["body"], audience=data["audience"],
                    send_at=data["send_at"],
                )  # fmt: skip
            else:
                created = announcement_services.announcement_create(
                    course=data["course"], subject=data["subject"], body=data["body"], audience=data["audience"],
                    send_at=data["send_at"], created_by=request.user,
                )  # fmt: skip
                obj.pk = created.pk
        except DomainError as error:
            # The form's own validation ran first; this is a state change in between (it
            # started sending while being edited) or a rule the form cannot see.
            self.message_user(request, error.message, messages.ERROR)

    def _control(self, request, queryset, service, verb: str):
        done, refused = 0, []
        for announcement in queryset:
            try:
                service(announcement=announcement)
                done += 1
            except DomainError as error:
                refused.append(f"{announcement.subject}: {error.message}")
        self.message_user(request, f"{verb} {done} announcement(s).", messages.SUCCESS if done else messages.WARNING)
        for line in refused:
            self.message_user(request, line, messages.WARNING)

    @admin.action(description="Pause sending")
    def pause(self, request, queryset):
        self._control(request, queryset, announcement_services.announcement_pause, "Paused")

    @admin.action(description="Resume sending")
    def resume(self, request, queryset):
        self._control(request, queryset, announcement_services.announcement_resume, "Resumed")

    @admin.action(description="Cancel (for good)")
    def cancel(self, request, queryset):
        self._control(request, queryset, announcement_services.announcement_cancel, "Cancelled")


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "course_announcements", "updated_at")
    list_filter = ("course_announcements",)
    search_fields = ("user__email",)
    raw_id_fields = ("user",)
