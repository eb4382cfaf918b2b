"""Receivers that enqueue e-mail jobs after commit. They decide and enqueue, nothing else."""

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from enrollments.events import enrollment_started
from lms.jobs.dispatch import dispatch_on_commit
from notifications.tasks import send_enrollment_confirmation as send_enrollment_confirmation_task
from notifications.tasks import send_verification_email as send_verification_email_task
from notifications.tasks import send_welcome_email as send_welcome_email_task


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="notifications.user_created")
def user_created(sender, instance, created, raw=False, **kwargs):
    if not created or raw:
        return
    dispatch_on_commit(send_welcome_email_task, str(instance.pk))
    if not instance.is_verified:
        dispatch_on_commit(send_verification_email_task, str(instance.pk))


@receiver(enrollment_started, dispatch_uid="notifications.enrollment_started")
def enrollment_started_confirmation(sender, enrollment, **kwargs):
    dispatch_on_commit(send_enrollment_confirmation_task, str(enrollment.pk))
