import uuid

from django.conf import settings
from django.db import models


class Notification(models.Model):
    """An in-app notification and its e-mail, in one row: the outbox of every e-mail we send.

    `dedupe_key` names the event it announces (e.g. `welcome:<user_id>`), so the same event
    never yields two rows, and the send task sends only a row that is not yet `sent`.
    """

    class Kind(models.TextChoices):
        WELCOME = "welcome", "Welcome"
        VERIFY_EMAIL = "verify_email", "E-mail verification"
        PASSWORD_RESET = "password_reset", "Password reset"
        ENROLLMENT_CONFIRMATION = "enrollment_confirmation", "Enrollment confirmation"
        CERTIFICATE_READY = "certificate_ready", "Certificate ready"
        CERTIFICATE_REVOKED = "certificate_revoked", "Certificate revoked"
        WEEKLY_REPORT = "weekly_report", "Weekly report"
        GENERIC = "generic", "Message"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=40, choices=Kind.choices)
    subject = models.CharField(max_length=255)
    body = models.TextField()
    body_html = models.TextField(blank=True)
    # A file in default storage sent with the e-mail (e.g. the weekly report PDF). It is read
    # when the e-mail goes out, so a file replaced meanwhile is sent in its latest version.
    attachment = models.FileField(max_length=255, blank=True)
    dedupe_key = models.CharField(max_length=255, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="notification_user_recent"),
            models.Index(fields=["status", "created_at"], name="notification_status_age"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.user_id}: {self.subject}"
