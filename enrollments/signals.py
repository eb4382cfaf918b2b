"""Receivers that turn course changes into background jobs. They only enqueue, after commit."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from courses.models import Lesson
from enrollments.services import course_progress_recalculate_later


@receiver(post_save, sender=Lesson, dispatch_uid="enrollments.lesson_saved")
def lesson_added(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        # At most one recalculation queued per course, however many lessons are saved
        # (lms.jobs.singleton); the queued one sees them all.
        course_progress_recalculate_later(course_id=instance.course_id)


@receiver(post_delete, sender=Lesson, dispatch_uid="enrollments.lesson_deleted")
def lesson_deleted(sender, instance, **kwargs):
    course_progress_recalculate_later(course_id=instance.course_id)
