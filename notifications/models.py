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
        ANNOUNCEMENT = "announcement", "Course announcement"
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


class NotificationPreference(models.Model):
    """What a learner chose to receive. No row means the defaults (everything on).

    Only course announcements can be turned off: account e-mails (welcome, verification, reset,
    enrollment, certificates) are never suppressed.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="notification_preference"
    )
    course_announcements = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"


class Announcement(models.Model):
    """A message from staff to the learners of a course, e-mailed and shown in-app.

    The counters of what happened are the recipient rows (the ledger); only the total fixed when
    sending starts is stored here.
    """

    class Audience(models.TextChoices):
        ACTIVE = "active", "Active learners"
        COMPLETED = "completed", "Learners who completed the course"
        ALL = "all", "Active and completed learners"

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        PAUSED = "paused", "Paused"
        CANCELLED = "cancelled", "Cancelled"
        SENT = "sent", "Sent"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE, related_name="announcements")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    subject = models.CharField(max_length=255)
    body = models.TextField()
    audience = models.CharField(max_length=10, choices=Audience.choices, default=Audience.ALL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SENDING)
    send_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Set by the fan-out, in the transaction that creates the recipient rows: their number then
    # (opted-out learners excluded) and when it happened (None: the fan-out has not run yet).
    recipients_total = models.PositiveIntegerField(default=0)
    fanned_out_at = models.DateTimeField(null=True, blank=True)
    # The fan-out job's id: the one job an operator follows (GET /api/tasks/<id>/ gives its
    # `progress`, reported by the chunk jobs; lms.jobs.progress).
    fan_out_task_id = models.CharField(max_length=255, blank=True)
    # Touched by chunk jobs while they deliver (at most every few seconds): a `sending`
    # announcement whose heartbeat stopped is re-kicked by the periodic tick.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["course", "-created_at"], name="announcement_course_recent"),
            models.Index(fields=["status", "send_at"], name="announcement_status_send_at"),
        ]

    def __str__(self) -> str:
        return self.subject


class AnnouncementRecipient(models.Model):
    """One learner of one announcement: the ledger every delivery and retry resumes from.

    `chunk` numbers the pending rows in groups of CHUNK_SIZE when the fan-out creates them; a
    chunk job delivers the pending rows of its chunk and nothing else.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (opted out)"

    id = models.BigAutoField(primary_key=True)
    announcement = models.ForeignKey(Announcement, on_delete=models.CASCADE, related_name="recipients", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    chunk = models.IntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["announcement", "user"], name="announcement_recipient_once"),
        ]
        indexes = [
            models.Index(fields=["announcement", "chunk", "status"], name="announcement_recipient_chunk"),
            models.Index(fields=["user"], name="announcement_recipient_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} of {self.announcement_id} ({self.status})"
