"""E-mail tasks (queue `emails`). Thin: load by id, call a service.

Invariants: each task is idempotent. It creates (or finds) the Notification row for its event
and delivers it only while the row is pending, so a redelivered or duplicated message sends
nothing more. Transient SMTP errors retry with exponential backoff and jitter, bounded by
max_retries; the last attempt marks the row failed.
"""

import logging

from celery import shared_task

from enrollments.selectors import enrollment_get
from lms.users.services import user_get
from notifications import services
from notifications.services import TransientEmailError

logger = logging.getLogger(__name__)

EMAIL_TASK_OPTIONS = {
    "bind": True,
    "autoretry_for": (TransientEmailError,),
    "retry_backoff": 5,  # 5 s, 10 s, 20 s ... with full jitter
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 6,
    "soft_time_limit": 30,
    "time_limit": 60,
    # No STARTED row: an e-mail job takes milliseconds and nobody watches one start; its
    # result (SUCCESS, RETRY, FAILURE) is still stored. Long jobs keep track_started (settings).
    "track_started": False,
}


def _is_final_attempt(task) -> bool:
    return task.request.retries >= task.max_retries


def _deliver_for_user(task, user_id: str, make_notification) -> str:
    user = user_get(user_id=user_id)
    if user is None:
        logger.info("User %s no longer exists; nothing to send", user_id)
        return "missing"
    notification = make_notification(user)
    return services.notification_deliver(notification_id=notification.pk, final_attempt=_is_final_attempt(task))


@shared_task(name="notifications.tasks.send_welcome_email", **EMAIL_TASK_OPTIONS)
def send_welcome_email(self, user_id: str) -> str:
    return _deliver_for_user(self, user_id, lambda user: services.notification_welcome(user=user))


@shared_task(name="notifications.tasks.send_verification_email", **EMAIL_TASK_OPTIONS)
def send_verification_email(self, user_id: str) -> str:
    return _deliver_for_user(self, user_id, lambda user: services.notification_verify_email(user=user))


@shared_task(name="notifications.tasks.send_password_reset_email", **EMAIL_TASK_OPTIONS)
def send_password_reset_email(self, user_id: str, request_id: str) -> str:
    return _deliver_for_user(
        self, user_id, lambda user: services.notification_password_reset(user=user, request_id=request_id)
    )


@shared_task(name="notifications.tasks.send_enrollment_confirmation", **EMAIL_TASK_OPTIONS)
def send_enrollment_confirmation(self, enrollment_id: str) -> str:
    enrollment = enrollment_get(enrollment_id=enrollment_id)
    if enrollment is None:
        logger.info("Enrollment %s no longer exists; nothing to send", enrollment_id)
        return "missing"
    notification = services.notification_enrollment_confirmation(enrollment=enrollment)
    return services.notification_deliver(notification_id=notification.pk, final_attempt=_is_final_attempt(self))


@shared_task(name="notifications.tasks.send_notification", **EMAIL_TASK_OPTIONS)
def send_notification(self, notification_id: str) -> str:
    return services.notification_deliver(notification_id=notification_id, final_attempt=_is_final_attempt(self))
