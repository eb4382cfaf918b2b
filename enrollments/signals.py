"""Receivers that turn course changes into background jobs. They only enqueue, after commit."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from courses.models import Lesson
from enrollments.tasks import recalculate_course_progress as recalculate_course_progress_task
from lms.jobs.dispatch import dispatch_on_commit


@receiver(post_save, sender=Lesson, dispatch_uid="enrollments.lesson_saved")
def lesson_added(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        # One job per course and transaction: the dispatcher folds repeats together.
        dispatch_on_commit(recalculate_course_progress_task, str(instance.course_id))


@receiver(post_delete, sender=Lesson, dispatch_uid="enrollments.lesson_deleted")
def lesson_deleted(sender, instance, **kwargs):
    dispatch_on_commit(recalculate_course_progress_task, str(instance.course_id))
