"""The first vertical slice on real processes: register -> worker sends both e-mails."""

import re

import pytest
from django_celery_results.models import TaskResult

from lms.users.models import User
from notifications.models import Notification
from notifications.tasks import send_welcome_email
from tests.processes import mail_to, text_body, wait_for

pytestmark = pytest.mark.integration


def test_register_sends_welcome_and_verification_emails_on_a_real_worker(live_worker, api_client, settings):
    # given a real worker consuming the queues through Redis
    address = "ada@example.com"

    # when a learner registers through the API
    response = api_client.post(
        "/api/auth/register/",
        {"email": address, "password": "correct-horse-battery-9", "full_name": "Ada Lovelace"},
        format="json",
    )

    # then the worker delivers the welcome and the verification e-mail
    assert response.status_code == 201, response.content
    user_id = response.json()["id"]
    messages = wait_for(
        lambda: len(mail_to(live_worker.mail_dir, address)) >= 2 and mail_to(live_worker.mail_dir, address),
        what="two e-mails",
    )
    assert sorted(m["Subject"] for m in messages) == ["Confirm your e-mail address", "Welcome to LMS, Ada Lovelace"]
    rows = wait_for(
        lambda: (
            (rows := list(Notification.objects.filter(user_id=user_id)))
            and all(r.status == "sent" for r in rows)
            and rows
        ),
        what="notification rows marked sent",
    )
    assert sorted(r.kind for r in rows) == ["verify_email", "welcome"]
    assert all(r.sent_at is not None and r.attempts == 1 for r in rows)

    # and the result store holds a SUCCESS row for each task, run by that worker
    results = wait_for(
        lambda: (
            TaskResult.objects.filter(status="SUCCESS", task_name__startswith="notifications.tasks.send_").count() == 2
            and TaskResult.objects.filter(status="SUCCESS")
        ),
        what="SUCCESS results",
    )
    assert {r.task_name for r in results} == {
        "notifications.tasks.send_welcome_email",
        "notifications.tasks.send_verification_email",
    }
    assert {r.worker for r in results} == {live_worker.name}

    # and the verification link in the e-mail verifies the account
    verification = next(m for m in messages if m["Subject"].startswith("Confirm"))
    link = re.search(rf"{re.escape(settings.FRONTEND_URL)}/verify-email\?token=(\S+)", text_body(verification))
    assert link, text_body(verification)
    verified = api_client.post("/api/auth/verify-email/", {"token": link.group(1)}, format="json")
    assert verified.status_code == 200
    assert User.objects.get(pk=user_id).is_verified


def test_same_email_task_delivered_twice_sends_one_email(live_worker, learner):
    # given a learner whose welcome e-mail the worker already sent (the signal's job)
    live_worker.wait_idle()
    assert len(mail_to(live_worker.mail_dir, learner.email)) == 1
    task_id = "5f0c6a52-2d1e-4a63-9a34-0d6c7f1b9c11"

    # when the same job is delivered twice more with one id, as a broker redelivery would,
    # to a worker with two processes that may race on it
    send_welcome_email.apply_async(args=[str(learner.pk)], task_id=task_id)
    send_welcome_email.apply_async(args=[str(learner.pk)], task_id=task_id)
    live_worker.wait_idle()

    # then still exactly one e-mail went out and one row records it
    assert len(mail_to(live_worker.mail_dir, learner.email)) == 1
    row = Notification.objects.get(user=learner, kind="welcome")
    assert row.status == "sent"
    assert row.attempts == 1
