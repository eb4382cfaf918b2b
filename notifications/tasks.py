"""E-mail tasks (queue `emails`; course announcements on `bulk`). Thin: load by id, call a service.

Invariants: each task is idempotent. It creates (or finds) the Notification row for its event
and delivers it only while the row is pending, so a redelivered or duplicated message sends
nothing more. Transient SMTP errors retry with exponential backoff and jitter, bounded by
max_retries; the last attempt marks the row failed.
"""

import logging

from celery import shared_task

from enrollments.selectors import enrollment_get
from lms.jobs.task_base import DB_RETRY_OPTIONS
from lms.users.services import user_get
from notifications import services
from notifications.announcements import delivery
from notifications.announcements import services as announcement_services
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
def send_password_reset_email(self, email: str, request_id: str) -> str:
    """Takes the address, not a user id: the request that queued it never looked the account up
    (so its timing cannot tell whether one exists); the service does, here on the worker."""
    notification = services.notification_password_reset(email=email, request_id=request_id)
    if notification is None:
        return "not sent"
    return services.notification_deliver(notification_id=notification.pk, final_attempt=_is_final_attempt(self))


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


# --- Course announcements (queue `bulk`; the tick on `default`) -----------------------------
# The fan-out writes the ledger and queues the chunk jobs in one transaction; a chunk job sends
# only pending rows under the chunk's lock, so redelivery, retries and re-kicks send nothing
# twice (notifications/announcements/). The tick is tiny and runs on `default`, never behind an
# announcement's backlog on `bulk`, so a scheduled one starts on time.


@shared_task(
    name="notifications.tasks.fan_out_announcement",
    bind=True,
    ignore_result=False,
    soft_time_limit=300,
    time_limit=360,
    **DB_RETRY_OPTIONS,
)
def fan_out_announcement(self, announcement_id: str) -> dict:
    # Its id is the one an operator follows: the chunk jobs report progress on it.
    return announcement_services.announcement_fan_out(announcement_id=announcement_id, task_id=self.request.id or "")


@shared_task(
    name="notifications.tasks.deliver_announcement_chunk",
    bind=True,
    autoretry_for=(delivery.TransientEmailError, *DB_RETRY_OPTIONS["autoretry_for"]),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=10,
    # Well above the job's own time budget (it hands over to a fresh job before then).
    soft_time_limit=delivery.CHUNK_TIME_BUDGET_SECONDS + 60,
    time_limit=delivery.CHUNK_TIME_BUDGET_SECONDS + 90,
)
def deliver_announcement_chunk(self, announcement_id: str, chunk: int) -> dict:
    result = delivery.announcement_deliver_chunk(
        announcement_id=announcement_id, chunk=int(chunk), final_attempt=_is_final_attempt(self)
    )
    return result.as_dict()


# Every 5 s: no result row each time (nobody reads it; the announcements show what it did).
@shared_task(
    name="notifications.tasks.announcements_tick",
    ignore_result=True,
    soft_time_limit=30,
    time_limit=60,
    **DB_RETRY_OPTIONS,
)
def announcements_tick() -> dict:
    return announcement_services.announcements_tick()
