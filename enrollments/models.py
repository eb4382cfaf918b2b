import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from courses.models import Course, Lesson


class Enrollment(models.Model):
    """A learner in a course. One per learner and course; a dropped one is re-activated."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        DROPPED = "dropped", "Dropped"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No single-column indexes on the two keys: (student, course) and (course, status) lead with
    # them already, and every index is written again on each progress update.
    student = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrollments", db_index=False
    )
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="enrollments", db_index=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    progress_percentage = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    completed_lessons_count = models.PositiveIntegerField(default=0)
    total_lessons_count = models.PositiveIntegerField(default=0)
    enrolled_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    dropped_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-enrolled_at"]
        constraints = [
            models.UniqueConstraint(fields=["student", "course"], name="enrollment_one_per_student_course"),
            models.CheckConstraint(
                condition=models.Q(progress_percentage__gte=0, progress_percentage__lte=100),
                name="enrollment_progress_0_100",
            ),
        ]
        indexes = [
            models.Index(fields=["course", "status"], name="enrollment_course_status"),
            models.Index(fields=["enrolled_at"], name="enrollment_enrolled_at"),
            models.Index(fields=["completed_at"], name="enrollment_completed_at"),
            models.Index(fields=["status", "dropped_at"], name="enrollment_status_dropped"),
        ]

    def __str__(self) -> str:
        return f"{self.student_id} in {self.course_id} ({self.status})"


class LessonProgress(models.Model):
    """A lesson an enrollment has completed. Many rows: a compact integer key."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="lesson_progress")
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="progress")
    completed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enrollment", "lesson"], name="lesson_progress_unique_pair"),
        ]
        indexes = [models.Index(fields=["completed_at"], name="lesson_progress_completed_at")]

    def __str__(self) -> str:
        return f"{self.enrollment_id} completed {self.lesson_id}"


class CourseActivity(models.Model):
    """Analytics for one course and one hour or day; recomputed idempotently per period."""

    class Granularity(models.TextChoices):
        HOUR = "hour", "Hour"
        DAY = "day", "Day"

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="activity")
    granularity = models.CharField(max_length=8, choices=Granularity.choices)
    period_start = models.DateTimeField()
    new_enrollments = models.PositiveIntegerField(default=0)
    completions = models.PositiveIntegerField(default=0)
    active_learners = models.PositiveIntegerField(default=0)
    certificates_issued = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "course activity"
        ordering = ["-period_start", "course"]
        constraints = [
            models.UniqueConstraint(
                fields=["course", "granularity", "period_start"], name="course_activity_unique_period"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.course_id} {self.granularity} {self.period_start:%Y-%m-%d %H:%M}"


class WeeklyReport(models.Model):
    """The PDF report of one ISO week (Monday 00:00 UTC to the next Monday). One per week:
    generating a week again replaces its file, checksum and figures in place."""

    week_start = models.DateField(unique=True, help_text="The Monday the week starts on (UTC).")
    file = models.FileField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    # {"courses": [{"course_id", "title", "enrollments", "completions"}, ...], "totals": {...}}
    figures = models.JSONField(default=dict, blank=True)
    generated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-week_start"]

    def __str__(self) -> str:
        return f"Weekly report {self.iso_week}"

    @property
    def iso_week(self) -> str:
        """E.g. "2026-W10" (ISO 8601 week date)."""
        year, week, _ = self.week_start.isocalendar()
        return f"{year}-W{week:02d}"
