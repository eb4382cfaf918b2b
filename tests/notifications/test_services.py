import smtplib

import pytest
from django.core import mail
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from notifications import services
from notifications.models import Notification
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    user = UserFactory(full_name="Ada Lovelace", email="ada@example.com")
    Notification.objects.all().delete()  # the signal's welcome e-mail is not under test here
    mail.outbox.clear()
    return user


def test_notification_create_renders_once_per_dedupe_key(user):
    first = services.notification_welcome(user=user)
    second = services.notification_welcome(user=user)

    assert first.pk == second.pk
    assert Notification.objects.count() == 1
    assert first.subject == "Welcome to LMS, Ada Lovelace"
    assert "Ada Lovelace" in first.body
    assert "<p>Hello Ada Lovelace,</p>" in first.body_html


def test_text_bodies_are_not_html_escaped(user, settings):
    settings.FRONTEND_URL = "https://lms.example.com"

    reset = services.notification_password_reset(email=user.email, request_id="r1")
    services.notification_deliver(notification_id=reset.pk)

    sent = mail.outbox[0].body
    assert "https://lms.example.com/reset-password?uid=" in sent
    assert "&token=" in sent
    assert "&amp;" not in sent


def test_user_supplied_names_are_escaped_in_html(user):
    user.full_name = "<script>alert(1)</script>"

    notification = services.notification_welcome(user=user)

    assert "<script>" not in notification.body_html
    assert "&lt;script&gt;" in notification.body_html


def test_notification_deliver_sends_text_and_html_once(user):
    notification = services.notification_welcome(user=user)

    assert services.notification_deliver(notification_id=notification.pk) == "sent"
    assert services.notification_deliver(notification_id=notification.pk) == "skipped"

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.com"]
    assert message.alternatives[0][1] == "text/html"
    notification.refresh_from_db()
    assert notification.status == "sent"
    assert notification.attempts == 1
    assert notification.sent_at is not None


def test_notification_deliver_attaches_the_stored_file_as_it_is_at_send_time(user):
    # given a notification whose attachment is replaced after the row was created
    default_storage.save("reports/weekly/2026-W10.pdf", ContentFile(b"%PDF-1.4 first"))
    notification = services.notification_create(
        user=user, kind=Notification.Kind.WELCOME, dedupe_key="report:1", attachment="reports/weekly/2026-W10.pdf"
    )
    default_storage.delete("reports/weekly/2026-W10.pdf")
    default_storage.save("reports/weekly/2026-W10.pdf", ContentFile(b"%PDF-1.4 second"))

    # when
    services.notification_deliver(notification_id=notification.pk)

    # then
    assert mail.outbox[0].attachments == [("2026-W10.pdf", b"%PDF-1.4 second", "application/pdf")]


def test_a_missing_attachment_fails_the_email_for_good(user):
    notification = services.notification_create(
        user=user, kind=Notification.Kind.WELCOME, dedupe_key="report:2", attachment="reports/weekly/gone.pdf"
    )

    with pytest.raises(services.PermanentEmailError, match="MissingAttachmentError"):
        services.notification_deliver(notification_id=notification.pk)

    notification.refresh_from_db()
    assert notification.status == "failed"
    assert "reports/weekly/gone.pdf" in notification.last_error
    assert mail.outbox == []


def test_notification_deliver_of_a_deleted_row_is_a_no_op(user):
    notification = services.notification_welcome(user=user)
    notification.delete()

    assert services.notification_deliver(notification_id=notification.pk) == "missing"
    assert mail.outbox == []


class FailingBackend:
    """An e-mail backend that raises a given error, installed via settings.EMAIL_BACKEND."""

    error: Exception

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise FailingBackend.error


@pytest.fixture
def failing_backend(settings):
    settings.EMAIL_BACKEND = "tests.notifications.test_services.FailingBackend"
    return FailingBackend


@pytest.mark.parametrize(
    "error",
    [
        smtplib.SMTPServerDisconnected("gone"),
        smtplib.SMTPResponseException(421, b"try later"),
        ConnectionRefusedError("refused"),
        TimeoutError("slow"),
    ],
)
def test_transient_errors_keep_the_row_pending_and_raise_for_retry(user, failing_backend, error):
    failing_backend.error = error
    notification = services.notification_welcome(user=user)

    with pytest.raises(services.TransientEmailError):
        services.notification_deliver(notification_id=notification.pk)

    notification.refresh_from_db()
    assert notification.status == "pending"
    assert notification.attempts == 1
    assert type(error).__name__ in notification.last_error


def test_the_last_transient_failure_marks_the_row_failed(user, failing_backend):
    failing_backend.error = smtplib.SMTPServerDisconnected("gone")
    notification = services.notification_welcome(user=user)

    with pytest.raises(services.PermanentEmailError):
        services.notification_deliver(notification_id=notification.pk, final_attempt=True)

    notification.refresh_from_db()
    assert notification.status == "failed"


@pytest.mark.parametrize(
    "error",
    [
        smtplib.SMTPRecipientsRefused({"ada@example.com": (550, b"no such user")}),
        smtplib.SMTPResponseException(554, b"rejected"),
        smtplib.SMTPAuthenticationError(535, b"bad credentials"),
    ],
)
def test_permanent_errors_mark_the_row_failed_without_retry(user, failing_backend, error):
    failing_backend.error = error
    notification = services.notification_welcome(user=user)

    with pytest.raises(services.PermanentEmailError):
        services.notification_deliver(notification_id=notification.pk)

    notification.refresh_from_db()
    assert notification.status == "failed"
    assert notification.attempts == 1
    assert str(error.smtp_code if hasattr(error, "smtp_code") else 550) in notification.last_error


def test_notify_admin_emails_the_admins(settings):
    settings.ADMINS = [("Ops", "ops@example.com")]

    from lms.jobs.alerts import notify_admin

    notify_admin(subject="Something broke", message="details")

    assert [m.to for m in mail.outbox] == [["ops@example.com"]]
    assert "Something broke" in mail.outbox[0].subject


def test_notification_requeue_sends_a_failed_row_again(user, django_capture_on_commit_callbacks):
    notification = services.notification_welcome(user=user)
    Notification.objects.filter(pk=notification.pk).update(status="failed", last_error="boom")

    with django_capture_on_commit_callbacks(execute=True):
        task_id = services.notification_requeue(notification=notification)

    assert task_id
    notification.refresh_from_db()
    assert notification.status == "sent"
    assert len(mail.outbox) == 1
    assert services.notification_requeue(notification=notification) is None
