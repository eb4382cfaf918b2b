"""The test SMTP server itself: Django's SMTP backend delivers to it, and it can refuse."""

import smtplib

import pytest
from django.core.mail import send_mail

from tests.smtp import text_of


def test_smtp_server_receives_mail_through_django_smtp_backend(smtp_server):
    # when
    send_mail("Hello", "Body text", "from@example.com", ["ada@example.com"])

    # then
    [message] = smtp_server.wait_for(1)
    assert message["Subject"] == "Hello"
    assert text_of(message).strip() == "Body text"
    assert smtp_server.messages_to("ada@example.com") == [message]


def test_smtp_server_rejects_when_told(smtp_server):
    # given
    smtp_server.reject_next(1, code=451, text="busy")

    # when / then
    with pytest.raises(smtplib.SMTPDataError):
        send_mail("Hello", "Body", "from@example.com", ["ada@example.com"])
    assert smtp_server.count() == 0
    send_mail("Again", "Body", "from@example.com", ["ada@example.com"])
    assert smtp_server.count() == 1
