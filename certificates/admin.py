from django.contrib import admin, messages

from certificates.models import Certificate
from certificates.tasks import generate_certificate as generate_certificate_task
from certificates.tasks import revoke_certificate as revoke_certificate_task
from lms.jobs.dispatch import dispatch_on_commit


@admin.register(Certificate)
class CertificateAdmin(admin.ModelAdmin):
    list_display = ("certificate_number", "learner_name", "course_title", "issued_at", "is_revoked")
    list_filter = ("is_revoked", "issued_at", "enrollment__course")
    search_fields = ("certificate_number", "learner_name", "course_title", "enrollment__student__email")
    list_select_related = ("enrollment",)
    raw_id_fields = ("enrollment",)
    date_hierarchy = "issued_at"
    readonly_fields = ("id", "certificate_number", "sha256", "issued_at", "revoked_at")
    actions = ["regenerate_pdf", "revoke"]

    @admin.action(description="Regenerate PDF (background job)")
    def regenerate_pdf(self, request, queryset):
        task_ids = [
            dispatch_on_commit(generate_certificate_task, str(enrollment_id), regenerate=True)
            for enrollment_id in queryset.values_list("enrollment_id", flat=True)
        ]
        self.message_user(request, f"Queued {len(task_ids)} PDF job(s). Task ids: {', '.join(task_ids)}")

    @admin.action(description="Revoke (background job; the learner is told)")
    def revoke(self, request, queryset):
        reason = f"Revoked by {request.user.email} in the admin."
        task_ids = [
            dispatch_on_commit(revoke_certificate_task, str(pk), reason)
            for pk in queryset.filter(is_revoked=False).values_list("pk", flat=True)
        ]
        self.message_user(
            request,
            f"Queued {len(task_ids)} revocation(s). Task ids: {', '.join(task_ids) or '-'}",
            messages.SUCCESS if task_ids else messages.WARNING,
        )
