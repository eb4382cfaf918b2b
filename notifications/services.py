"""Notifications: the in-app feed and the outbox of every e-mail.

Invariants:
- one row per event: `dedupe_key` is unique and creating the same event twice returns the
  first row, rendered once;
- a row is e-mailed at most once: delivery holds the row's lock while sending and sends only
  a `pending` row, so a redelivered or concurrent job finds it `sent` and does nothing;
- no secret is ever stored in a row: the links that act for the account (password reset, e-mail
  verification) are rendered into the e-mail only when it is sent (SECRET_LINKS), so the in-app
  feed, the admin and the monthly archive hold the message without them;
- password-reset e-mails are capped per account (PASSWORD_RESET_EMAILS_PER_HOUR), counted
  under the account's row lock, whoever asks and from wherever;
- an attachment is a file in default storage, read at send time; a missing file fails the
  e-mail for good (MissingAttachmentError): retrying would not bring it back;
- a transient SMTP failure leaves the row `pending` (attempts and last_error recorded) and
  raises TransientEmailError for the task to retry; a permanent failure, or the last retry,
  marks it `failed` and raises PermanentEmailError, so the job ends as FAILURE in the result
  store and the base task tells staff.
"""

import logging
import mimetypes
import posixpath
import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from lms.jobs.dispatch import dispatch_many_on_commit, dispatch_on_commit
from lms.users.models import User
from lms.users.services import email_verification_link, password_reset_link, user_lock_active_by_email
from notifications.models import Notification

logger = logging.getLogger(__name__)

# The links that act for the account, by the kind of e-mail that carries them. They are made
# fresh when the e-mail goes out and never stored: a row's body (what GET /api/notifications/
# returns) says what happened, the e-mail alone carries the link. Templates of these kinds
# render the feed text when `link` is absent.
SECRET_LINKS: dict[str, Callable[..., str]] = {
    Notification.Kind.PASSWORD_RESET: password_reset_link,
    Notification.Kind.VERIFY_EMAIL: email_verification_link,
}

# Enough of an SMTP error to diagnose it, without letting a chatty server bloat the row.
LAST_ERROR_MAX_CHARS = 2000


class TransientEmailError(Exception):
    """Sending failed in a way that may succeed later (server busy, connection dropped)."""


class PermanentEmailError(Exception):
    """Sending failed for good (address refused, bad credentials, or retries used up)."""


class MissingAttachmentError(Exception):
    """The file to attach is not in storage: sending again would not bring it back."""


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    body: str
    body_html: str


def notification_render(*, kind: str, context: dict) -> RenderedMessage:
    base = f"notifications/email/{kind}"
    context = {"frontend_url": settings.FRONTEND_URL, **context}
    subject = " ".join(render_to_string(f"{base}_subject.txt", context).split())
    return RenderedMessage(
        subject=subject,
        body=render_to_string(f"{base}.txt", context),
        body_html=render_to_string(f"{base}.html", context),
    )


def _rendered_row(
    *, user: User, kind: str, dedupe_key: str, context: dict | None, attachment: str = ""
) -> Notification:
    """An unsaved row for the event, its subject and bodies rendered from the kind's templates."""
    message = notification_render(kind=kind, context={"user": user, **(context or {})})
    return Notification(
        user=user,
        kind=kind,
        dedupe_key=dedupe_key,
        subject=message.subject,
        body=message.body,
        body_html=message.body_html,
        attachment=attachment,
    )


def notification_create(
    *, user: User, kind: str, dedupe_key: str, context: dict | None = None, attachment: str = ""
) -> Notification:
    """The row for this event, created (and rendered) only the first time.

    `attachment` names a file in default storage to send with the e-mail.
    """
    existing = Notification.objects.filter(dedupe_key=dedupe_key).first()
    if existing is not None:
        return existing
    notification = _rendered_row(user=user, kind=kind, dedupe_key=dedupe_key, context=context, attachment=attachment)
    try:
        with transaction.atomic():
            notification.save(force_insert=True)
            return notification
    except IntegrityError:  # a concurrent job created it first
        return Notification.objects.get(dedupe_key=dedupe_key)


def notification_send(
    *, user: User, kind: str, dedupe_key: str, context: dict | None = None, attachment: str = ""
) -> Notification:
    """Create the row and queue its e-mail after commit (the generic path for other apps)."""
    from notifications.tasks import send_notification as send_notification_task

    notification = notification_create(
        user=user, kind=kind, dedupe_key=dedupe_key, context=context, attachment=attachment
    )
    if notification.status == Notification.Status.PENDING:
        dispatch_on_commit(send_notification_task, str(notification.pk))
    return notification


def notifications_send_new(*, kind: str, events: Sequence[tuple[User, str, dict]]) -> list[Notification]:
    """Rows for events that happened in the caller's transaction, e.g. certificates it just
    created: each (user, dedupe_key, context) rendered, all inserted by one statement, their
    e-mails queued as one batch after commit (dispatch_many_on_commit).

    A new event has no row yet, so nothing is looked up first; a row there already breaks the
    unique `dedupe_key` and the caller's transaction fails whole, to be retried.
    """
    from notifications.tasks import send_notification as send_notification_task

    notifications = [
        _rendered_row(user=user, kind=kind, dedupe_key=dedupe_key, context=context)
        for user, dedupe_key, context in events
    ]
    Notification.objects.bulk_create(notifications)
    dispatch_many_on_commit(send_notification_task, [(str(notification.pk),) for notification in notifications])
    return notifications


# --- The account e-mails (one row per event) ------------------------------------------------


def notification_welcome(*, user: User) -> Notification:
    return notification_create(user=user, kind=Notification.Kind.WELCOME, dedupe_key=f"welcome:{user.pk}")


def notification_verify_email(*, user: User) -> Notification:
    # No link in the row: _send_email renders it into the e-mail (SECRET_LINKS).
    return notification_create(user=user, kind=Notification.Kind.VERIFY_EMAIL, dedupe_key=f"verify_email:{user.pk}")


def notification_password_reset(*, email: str, request_id: str, now=None) -> Notification | None:
    """The reset e-mail asked for by `request_id`, or None when nothing is to be sent.

    The account is looked up here, on the worker, not in the request, so the endpoint does the
    same work whether or not the address has an account. None when there is no active account,
    or when it already received PASSWORD_RESET_EMAILS_PER_HOUR reset e-mails in the last hour
    (counted under the account's row lock, so concurrent jobs cannot both pass the cap).
    """
    now = now or timezone.now()
    with transaction.atomic():
        user = user_lock_active_by_email(email=email)
        if user is None:
            logger.info("Password reset asked for an address without an active account")
            return None
        dedupe_key = f"password_reset:{user.pk}:{request_id}"
        existing = Notification.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:  # a redelivered job: the same e-mail, never a second one
            return existing
        sent_last_hour = Notification.objects.filter(
            user=user, kind=Notification.Kind.PASSWORD_RESET, created_at__gte=now - timedelta(hours=1)
        ).count()
        if sent_last_hour >= settings.PASSWORD_RESET_EMAILS_PER_HOUR:
            logger.warning(
                "Password reset for %s not sent: %d reset e-mail(s) in the last hour already", user.pk, sent_last_hour
            )
            return None
        return notification_create(user=user, kind=Notification.Kind.PASSWORD_RESET, dedupe_key=dedupe_key)


def notification_enrollment_confirmation(*, enrollment) -> Notification:
    # Keyed by the enrollment *start*: re-enrolling after a drop is a new event and a new e-mail.
    started = enrollment.enrolled_at.strftime("%Y%m%dT%H%M%S%f")
    return notification_create(
        user=enrollment.student,
        kind=Notification.Kind.ENROLLMENT_CONFIRMATION,
        dedupe_key=f"enrollment_confirmation:{enrollment.pk}:{started}",
        context={"enrollment": enrollment, "course": enrollment.course},
    )


# --- Delivery -------------------------------------------------------------------------------


def is_transient_email_error(exc: BaseException) -> bool:
    if isinstance(exc, (smtplib.SMTPServerDisconnected, SoftTimeLimitExceeded)):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPException):
        return False
    # Socket level: refused, reset, timed out, DNS hiccup.
    return isinstance(exc, OSError)


def _email_bodies(notification: Notification) -> tuple[str, str]:
    """(text, html) to send: the stored ones, or for a kind with a secret link (SECRET_LINKS)
    the same templates rendered again with a link made now, which is never written anywhere."""
    make_link = SECRET_LINKS.get(notification.kind)
    if make_link is None:
        return notification.body, notification.body_html
    user = notification.user
    message = notification_render(kind=notification.kind, context={"user": user, "link": make_link(user=user)})
    return message.body, message.body_html


def _send_email(notification: Notification) -> None:
    body, body_html = _email_bodies(notification)
    message = EmailMultiAlternatives(
        subject=notification.subject,
        body=body,
        to=[notification.user.email],
        headers={"X-LMS-Notification": str(notification.pk)},
    )
    if body_html:
        message.attach_alternative(body_html, "text/html")
    if notification.attachment:
        message.attach(*_read_attachment(notification.attachment.name))
    message.send()


def _read_attachment(name: str) -> tuple[str, bytes, str]:
    """(file name, content, MIME type) of a file in default storage."""
    try:
        with default_storage.open(name, "rb") as file:
            content = file.read()
    except FileNotFoundError as exc:
        raise MissingAttachmentError(f"The attachment {name} is not in storage") from exc
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return posixpath.basename(name), content, mimetype


def notification_deliver(*, notification_id: str, final_attempt: bool = False) -> str:
    """E-mail the row if it is still pending. Returns "sent", "skipped" or "missing"."""
    error: Exception | None = None
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(pk=notification_id)
            .first()
        )
        if notification is None:
            logger.warning("Notification %s no longer exists; nothing to send", notification_id)
            return "missing"
        if notification.status != Notification.Status.PENDING:
            logger.info("Notification %s is already %s; not sending again", notification_id, notification.status)
            return "skipped"
        try:
            _send_email(notification)
        except Exception as exc:  # noqa: BLE001 - classified below, never swallowed
            error = exc
        notification.attempts += 1
        if error is None:
            notification.status = Notification.Status.SENT
            notification.sent_at = timezone.now()
            notification.last_error = ""
        else:
            notification.last_error = f"{type(error).__name__}: {error}"[:LAST_ERROR_MAX_CHARS]
            if final_attempt or not is_transient_email_error(error):
                notification.status = Notification.Status.FAILED
        notification.save(update_fields=["status", "sent_at", "attempts", "last_error"])

    if error is None:
        logger.info("Sent %s notification %s", notification.kind, notification.pk)
        return "sent"
    if notification.status == Notification.Status.FAILED:
        raise PermanentEmailError(
            f"E-mail {notification.kind} ({notification.pk}) failed after {notification.attempts} "
            f"attempt(s): {notification.last_error}"
        ) from error
    logger.warning("Transient failure sending notification %s: %s", notification.pk, notification.last_error)
    raise TransientEmailError(notification.last_error) from error


def notification_requeue(*, notification: Notification) -> str | None:
    """Put a failed row back to pending and queue it again (admin action). Returns the task id."""
    from notifications.tasks import send_notification as send_notification_task

    updated = Notification.objects.filter(pk=notification.pk, status=Notification.Status.FAILED).update(
        status=Notification.Status.PENDING, last_error=""
    )
    if not updated:
        return None
    return dispatch_on_commit(send_notification_task, str(notification.pk))


def notification_mark_read(*, notification: Notification) -> Notification:
    if notification.read_at is None:
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=timezone.now())
        notification.refresh_from_db(fields=["read_at"])
    return notification
