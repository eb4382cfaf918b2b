import pytest
from django.core import mail

from lms.jobs import task_base
from notifications.models import Notification
from notifications.tasks import (
    send_notification,
    send_password_reset_email,
    send_verification_email,
    send_welcome_email,
)
from tests.factories import UserFactory
from tests.notifications.test_services import FailingBackend

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    user = UserFactory(is_verified=False)
    Notification.objects.all().delete()
    mail.outbox.clear()
    return user


@pytest.mark.parametrize(
    ("task", "args", "kind"),
    [
        (send_welcome_email, (), "welcome"),
        (send_verification_email, (), "verify_email"),
        (send_password_reset_email, ("request-1",), "password_reset"),
    ],
)
def test_email_task_run_twice_sends_one_email(user, task, args, kind):
    # the reset job takes the address (the request never looks the account up), the others an id
    target = user.email if task is send_password_reset_email else str(user.pk)
    first = task.apply(args=[target, *args])
    second = task.apply(args=[target, *args])

    assert (first.get(), second.get()) == ("sent", "skipped")
    assert len(mail.outbox) == 1
    assert Notification.objects.get(user=user).kind == kind


def test_two_password_reset_requests_are_two_emails(user):
    send_password_reset_email.apply(args=[user.email, "request-1"])
    send_password_reset_email.apply(args=[user.email, "request-2"])

    assert len(mail.outbox) == 2


def test_password_reset_job_for_an_address_without_an_account_sends_nothing(user):
    assert send_password_reset_email.apply(args=["nobody@example.com", "request-1"]).get() == "not sent"
    assert mail.outbox == []


def test_email_task_for_a_deleted_user_logs_and_returns(user):
    user_id = str(user.pk)
    user.delete()

    assert send_welcome_email.apply(args=[user_id]).get() == "missing"
    assert mail.outbox == []


def test_send_notification_delivers_an_existing_row(user):
    from notifications.services import notification_welcome

    notification = notification_welcome(user=user)

    assert send_notification.apply(args=[str(notification.pk)]).get() == "sent"
    assert send_notification.apply(args=[str(notification.pk)]).get() == "skipped"
    assert len(mail.outbox) == 1


def test_transient_failures_retry_a_bounded_number_of_times_then_fail_and_tell_staff(user, settings, monkeypatch):
    settings.EMAIL_BACKEND = "tests.notifications.test_services.FailingBackend"
    FailingBackend.error = ConnectionRefusedError("smtp down")
    alerts = []
    monkeypatch.setattr(task_base, "notify_admin", lambda *, subject, message: alerts.append(subject))

    result = send_welcome_email.apply(args=[str(user.pk)])

    assert result.failed()
    assert alerts == ["Task notifications.tasks.send_welcome_email failed"]
    row = Notification.objects.get(user=user, kind="welcome")
    assert row.status == "failed"
    assert row.attempts == send_welcome_email.max_retries + 1
    assert "ConnectionRefusedError" in row.last_error


def test_email_tasks_back_off_exponentially_with_jitter_and_bounded_retries():
    for task in (send_welcome_email, send_verification_email, send_password_reset_email, send_notification):
        assert task.retry_backoff and task.retry_jitter
        assert 0 < task.max_retries <= 10
        assert task.retry_backoff_max <= 600
        assert task.soft_time_limit < task.time_limit


def test_a_permanent_failure_does_not_retry_and_ends_as_failure(user, settings):
    import smtplib

    settings.EMAIL_BACKEND = "tests.notifications.test_services.FailingBackend"
    FailingBackend.error = smtplib.SMTPRecipientsRefused({user.email: (550, b"no such user")})

    result = send_welcome_email.apply(args=[str(user.pk)])

    assert result.failed()
    row = Notification.objects.get(user=user, kind="welcome")
    assert (row.status, row.attempts) == ("failed", 1)
