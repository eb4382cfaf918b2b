"""Course announcements through the services and task functions, delivered over real SMTP
(aiosmtpd) in this process: the ledger, exactly-once delivery, opt-outs, failures, control."""

from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from notifications.announcements import delivery, services
from notifications.announcements.preferences import preference_update, unsubscribe_token
from notifications.models import Announcement, AnnouncementRecipient, Notification
from notifications.services import notification_deliver, notification_password_reset
from notifications.tasks import announcements_tick, deliver_announcement_chunk, fan_out_announcement
from tests.notifications.announcement_data import audience
from tests.smtp import text_of

pytestmark = pytest.mark.django_db

Status = Announcement.Status


@pytest.fixture
def world():
    return audience()


def announce(world, *, run, **fields) -> Announcement:
    """Create an announcement and run every job it queues (fan-out, chunks) in-process."""
    with run(execute=True):
        fields = {"subject": "Exam moved", "body": "See you on Friday.", **fields}
        announcement = services.announcement_create(course=world.course, **fields)
    return services.announcement_get(announcement_id=announcement.pk)


def fanned_out(world, **fields) -> Announcement:
    """An announcement whose fan-out ran and whose chunk jobs were not run: the test runs (or
    loses) them itself. Its queued jobs are forgotten, as if they had gone to a broker."""
    announcement = services.announcement_create(course=world.course, subject="s", body="b", **fields)
    services.announcement_fan_out(announcement_id=announcement.pk)
    connection.run_on_commit = []  # as Django drops callbacks: a new list (the dispatcher indexes the old one)
    return announcement


def mailed(sink) -> Counter:
    return Counter(m["To"] for m in sink.messages)


def test_announcement_reaches_every_learner_once_by_mail_and_in_app(
    world, smtp_server, django_capture_on_commit_callbacks
):
    # when an announcement to everyone is created and its jobs run
    announcement = announce(world, run=django_capture_on_commit_callbacks)

    # then each active and completed learner got exactly one e-mail and one notification
    expected = {u.email for u in world.recipients}
    assert mailed(smtp_server) == Counter(expected)
    notified = Notification.objects.filter(kind=Notification.Kind.ANNOUNCEMENT)
    assert Counter(notified.values_list("user__email", flat=True)) == Counter(expected)
    # and dropped, deactivated, opted-out and other courses' learners got nothing
    assert announcement.status == Status.SENT and announcement.finished_at is not None
    assert (announcement.recipients_total, announcement.sent_count) == (5, 5)
    assert (announcement.skipped_count, announcement.failed_count) == (1, 0)
    skipped = AnnouncementRecipient.objects.get(status="skipped")
    assert skipped.user == world.opted_out[0]


def test_announcement_email_has_one_click_unsubscribe_headers_and_the_link_in_its_body(
    world, smtp_server, settings, django_capture_on_commit_callbacks
):
    settings.FRONTEND_URL = "https://lms.example.com"
    announce(world, run=django_capture_on_commit_callbacks, subject="Exam moved", body="Friday, 10:00.")
    ada = world.active[0]

    [message] = [m for m in smtp_server.messages if m["To"] == ada.email]

    link = f"https://lms.example.com/unsubscribe/{unsubscribe_token(user_id=ada.pk)}/"
    # long header lines are folded (RFC 5322): compare the unfolded value
    assert message["List-Unsubscribe"].strip() == f"<{link}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Subject"] == "Exam moved"
    body = text_of(message)
    assert link in body and f"Hello {ada.full_name}," in body and "Friday, 10:00." in body


def test_audience_active_or_completed_selects_those_enrollments_only(
    world, smtp_server, django_capture_on_commit_callbacks
):
    announce(world, run=django_capture_on_commit_callbacks, audience="completed")

    assert set(mailed(smtp_server)) == {u.email for u in world.completed}


def test_fan_out_and_chunks_run_again_change_nothing(world, smtp_server, django_capture_on_commit_callbacks):
    # given a sent announcement
    announcement = announce(world, run=django_capture_on_commit_callbacks)
    rows = list(AnnouncementRecipient.objects.order_by("pk").values_list("pk", "user_id", "status"))

    # when its fan-out and chunk job are delivered again (redelivery, a duplicate kick)
    with django_capture_on_commit_callbacks(execute=True):
        again = fan_out_announcement.apply(args=[str(announcement.pk)]).get()
    chunk_again = deliver_announcement_chunk.apply(args=[str(announcement.pk), 0]).get()

    # then no row, e-mail or notification more
    assert again["chunks"] == 0 and chunk_again["stopped"] == "sent"
    assert list(AnnouncementRecipient.objects.order_by("pk").values_list("pk", "user_id", "status")) == rows
    assert smtp_server.count() == 5
    assert Notification.objects.filter(kind="announcement").count() == 5


def test_recipients_are_numbered_into_chunks_of_chunk_size(monkeypatch, django_capture_on_commit_callbacks):
    # given a course of 7 learners and chunks of 3
    monkeypatch.setattr(services, "CHUNK_SIZE", 3)
    world = audience(active=7, completed=0)
    announcement = services.announcement_create(course=world.course, subject="s", body="b")

    # when it fans out (chunk jobs not run)
    with django_capture_on_commit_callbacks(execute=False) as jobs:
        services.announcement_fan_out(announcement_id=announcement.pk)

    # then 3 chunks of at most 3 pending rows, and one chunk job each
    sizes = Counter(AnnouncementRecipient.objects.filter(status="pending").values_list("chunk", flat=True))
    assert sizes == {0: 3, 1: 3, 2: 1}
    assert [job.args for batch in jobs for job in batch.jobs] == [(str(announcement.pk), c) for c in range(3)]
    assert Announcement.objects.get(pk=announcement.pk).recipients_total == 7


def test_fan_out_of_a_paused_or_cancelled_announcement_creates_nothing(world):
    announcement = services.announcement_create(course=world.course, subject="s", body="b")
    services.announcement_cancel(announcement=announcement)

    assert services.announcement_fan_out(announcement_id=announcement.pk)["chunks"] == 0
    assert not AnnouncementRecipient.objects.exists()


def test_a_permanent_refusal_fails_that_recipient_only(world, smtp_server, django_capture_on_commit_callbacks):
    smtp_server.reject_next(1, code=550, text="No such mailbox")

    announcement = announce(world, run=django_capture_on_commit_callbacks)

    assert (announcement.sent_count, announcement.failed_count, announcement.status) == (4, 1, Status.SENT)
    failed = AnnouncementRecipient.objects.get(status="failed")
    assert "550" in failed.last_error and failed.attempts == 1
    assert smtp_server.count() == 4


def test_a_transient_refusal_is_retried_in_the_job_and_sent_once(
    world, smtp_server, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(delivery, "IN_JOB_BACKOFF_SECONDS", 0.01)
    smtp_server.reject_next(2, code=451, text="Greylisted")

    announcement = announce(world, run=django_capture_on_commit_callbacks)

    assert (announcement.sent_count, announcement.failed_count) == (5, 0)
    assert mailed(smtp_server) == Counter(u.email for u in world.recipients)


def test_a_server_refusing_for_longer_leaves_the_row_pending_and_the_next_run_resumes(world, smtp_server, monkeypatch):
    # given a server that refuses every try the job makes for the first recipient
    monkeypatch.setattr(delivery, "IN_JOB_BACKOFF_SECONDS", 0.01)
    announcement = fanned_out(world)
    smtp_server.reject_next(delivery.IN_JOB_RETRIES + 1, code=421, text="Service not available")

    # when the chunk runs, it gives up for now with a transient error
    with pytest.raises(delivery.TransientEmailError):
        delivery.announcement_deliver_chunk(announcement_id=announcement.pk, chunk=0)
    first = AnnouncementRecipient.objects.filter(status="pending").order_by("pk").first()
    assert first.attempts == 1 and "421" in first.last_error
    assert smtp_server.count() == 0

    # then the retry sends every pending row once, and the announcement is sent
    result = delivery.announcement_deliver_chunk(announcement_id=announcement.pk, chunk=0)
    assert result.sent == 5 and smtp_server.count() == 5
    assert Announcement.objects.get(pk=announcement.pk).status == Status.SENT


def test_paused_announcement_sends_nothing_until_resumed(world, smtp_server, django_capture_on_commit_callbacks):
    # given an announcement fanned out, then paused before its chunk ran
    announcement = fanned_out(world)
    services.announcement_pause(announcement=announcement)

    # when the chunk job runs
    result = delivery.announcement_deliver_chunk(announcement_id=announcement.pk, chunk=0)

    # then nothing is sent; resuming continues from the ledger
    assert result.stopped == Status.PAUSED and smtp_server.count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        resumed = services.announcement_resume(announcement=announcement)
    assert resumed.status == Status.SENDING
    assert smtp_server.count() == 5
    assert Announcement.objects.get(pk=announcement.pk).status == Status.SENT


def test_pause_mid_chunk_stops_before_the_next_message(world, smtp_server, monkeypatch):
    # given a chunk job that checks the status before every message
    monkeypatch.setattr(delivery, "PAUSE_CHECK_SECONDS", 0)
    announcement = fanned_out(world)
    original = delivery._Session.send

    def send_then_pause(session, message):
        original(session, message)
        if smtp_server.count() == 2:
            Announcement.objects.filter(pk=announcement.pk).update(status=Status.PAUSED)

    monkeypatch.setattr(delivery._Session, "send", send_then_pause)

    # when it is paused after the second message
    result = delivery.announcement_deliver_chunk(announcement_id=announcement.pk, chunk=0)

    # then it stopped there, with the rest still pending
    assert (result.sent, result.stopped) == (2, Status.PAUSED)
    assert AnnouncementRecipient.objects.filter(status="pending").count() == 3


def test_control_transitions_the_status_does_not_allow_are_conflicts(world):
    from lms.errors import Conflict

    announcement = services.announcement_create(course=world.course, subject="s", body="b")
    with pytest.raises(Conflict):
        services.announcement_resume(announcement=announcement)
    services.announcement_cancel(announcement=announcement)
    for control in (services.announcement_pause, services.announcement_resume, services.announcement_cancel):
        with pytest.raises(Conflict):
            control(announcement=announcement)
    assert Announcement.objects.get(pk=announcement.pk).status == Status.CANCELLED


def test_learner_who_opts_out_after_the_fan_out_is_skipped(world, smtp_server):
    announcement = fanned_out(world)
    late = world.active[0]
    preference_update(user=late, course_announcements=False)

    result = delivery.announcement_deliver_chunk(announcement_id=announcement.pk, chunk=0)

    assert (result.sent, result.skipped) == (4, 1)
    assert late.email not in mailed(smtp_server)
    assert not Notification.objects.filter(user=late, kind="announcement").exists()


def test_account_emails_carry_no_unsubscribe_header_and_ignore_the_opt_out(world, smtp_server):
    learner = world.opted_out[0]

    notification = notification_password_reset(email=learner.email, request_id="r1")
    notification_deliver(notification_id=notification.pk)

    [message] = smtp_server.messages
    assert message["To"] == learner.email
    assert message["List-Unsubscribe"] is None and message["List-Unsubscribe-Post"] is None


# --- Scheduling ---------------------------------------------------------------------------


def test_scheduled_announcement_starts_once_when_due(world, smtp_server, django_capture_on_commit_callbacks):
    # given an announcement scheduled a minute ahead
    now = timezone.now()
    announcement = services.announcement_create(
        course=world.course, subject="s", body="b", send_at=now + timedelta(minutes=1), now=now
    )
    assert announcement.status == Status.SCHEDULED

    # when the tick runs before, then twice after send_at
    assert services.announcements_tick(now=now)["started"] == []
    with django_capture_on_commit_callbacks(execute=True):
        first = services.announcements_tick(now=now + timedelta(minutes=1, seconds=1))
        second = services.announcements_tick(now=now + timedelta(minutes=1, seconds=2))

    # then it started once, and was delivered once
    assert first["started"] == [str(announcement.pk)] and second["started"] == []
    assert smtp_server.count() == 5
    assert Announcement.objects.get(pk=announcement.pk).status == Status.SENT


def test_scheduled_announcement_can_be_edited_or_cancelled_until_it_starts(world):
    from lms.errors import Conflict

    now = timezone.now()
    announcement = services.announcement_create(
        course=world.course, subject="s", body="b", send_at=now + timedelta(hours=1), now=now
    )
    edited = services.announcement_update(
        announcement=announcement, subject="New subject", body="New body", audience="active",
        send_at=now + timedelta(hours=2), now=now,
    )  # fmt: skip
    assert (edited.subject, edited.audience) == ("New subject", "active")

    services.announcement_cancel(announcement=announcement)
    assert services.announcements_tick(now=now + timedelta(hours=3))["started"] == []
    with pytest.raises(Conflict):
        services.announcement_update(
            announcement=announcement, subject="x", body="y", audience="all", send_at=now + timedelta(hours=4), now=now
        )
    assert not AnnouncementRecipient.objects.exists()


def test_tick_requeues_the_pending_chunks_of_a_stalled_announcement(
    world, settings, django_capture_on_commit_callbacks, smtp_server
):
    # given an announcement fanned out whose chunk job was lost (never ran)
    settings.ANNOUNCEMENT_STALL_SECONDS = 60
    fanned_out(world)

    # when the tick runs within the stall time, then after it
    assert services.announcements_tick()["requeued"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        later = services.announcements_tick(now=timezone.now() + timedelta(seconds=61))

    # then the chunk was queued again and delivered
    assert later["requeued"] == 1
    assert smtp_server.count() == 5


def test_tick_task_runs_the_service(world):
    assert announcements_tick.apply().get() == {"started": [], "requeued": 0}


def test_bad_input_is_refused_and_creates_nothing(world):
    from lms.errors import InvalidInput

    for fields in (
        {"subject": "  ", "body": "b"},
        {"subject": "s", "body": ""},
        {"subject": "s", "body": "x" * (services.BODY_MAX_CHARS + 1)},
        {"subject": "s", "body": "b", "send_at": timezone.now() - timedelta(seconds=1)},
        {"subject": "s", "body": "b", "audience": "dropped"},
    ):
        with pytest.raises(InvalidInput):
            services.announcement_create(course=world.course, **fields)
    assert not Announcement.objects.exists()


def test_a_learner_name_outside_ascii_arrives_intact_and_each_message_has_its_own_id(
    world, smtp_server, django_capture_on_commit_callbacks
):
    # given a learner whose name is not ASCII (the message is serialized once, then substituted)
    ada = world.active[0]
    ada.full_name = "Ada Łovelace-Müller 李"
    ada.save(update_fields=["full_name"])

    announce(world, run=django_capture_on_commit_callbacks, body="Café at 10:00 — bring your notes.")

    [message] = [m for m in smtp_server.messages if m["To"] == ada.email]
    assert "Hello Ada Łovelace-Müller 李," in text_of(message)
    assert "Café at 10:00 — bring your notes." in text_of(message)
    ids = [m["Message-ID"] for m in smtp_server.messages]
    assert len(set(ids)) == len(ids) == 5


def test_other_email_backends_get_one_django_message_per_recipient(world, settings, django_capture_on_commit_callbacks):
    from django.core import mail

    # given the in-memory backend (development uses files): not SMTP, so no pre-serialized bytes
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    announce(world, run=django_capture_on_commit_callbacks)

    assert sorted(m.to[0] for m in mail.outbox) == sorted(u.email for u in world.recipients)
    message = mail.outbox[0]
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.extra_headers["List-Unsubscribe"].strip("<>") in message.body


def test_a_server_without_pipelining_gets_plain_smtp_and_every_message_once(
    world, settings, django_capture_on_commit_callbacks
):
    from tests.smtp import SmtpSink

    # given a server that does not advertise PIPELINING (the default test server does)
    with SmtpSink(pipelining=False) as sink:
        for name, value in sink.settings().items():
            setattr(settings, name, value)
        sink.reject_next(1, code=550, text="No such mailbox")

        announcement = announce(world, run=django_capture_on_commit_callbacks)

    assert (announcement.sent_count, announcement.failed_count) == (4, 1)
    assert sink.count() == 4 and len({m["To"] for m in sink.messages}) == 4


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_recipient_refused_at_rcpt_fails_alone_and_the_session_goes_on(
    world, settings, django_capture_on_commit_callbacks, pipelining
):
    from tests.smtp import SmtpSink

    # given a server that refuses one address at RCPT TO (with and without pipelining)
    with SmtpSink(pipelining=pipelining) as sink:
        for name, value in sink.settings().items():
            setattr(settings, name, value)
        refused = world.active[1].email
        sink.refused_recipients.add(refused)

        announcement = announce(world, run=django_capture_on_commit_callbacks)

    assert (announcement.sent_count, announcement.failed_count) == (4, 1)
    assert refused not in {m["To"] for m in sink.messages} and sink.count() == 4
    failed = AnnouncementRecipient.objects.get(status="failed")
    assert failed.user.email == refused and "550" in failed.last_error


def test_the_fan_out_jobs_id_shows_the_announcements_progress_while_chunks_deliver(world, smtp_server, monkeypatch):
    # given an announcement to 5 learners in chunks of 3, fanned out by a job whose row is done
    from django_celery_results.models import TaskResult

    from lms.jobs.progress import job_progress_forget
    from lms.selectors import task_result_get

    monkeypatch.setattr(services, "CHUNK_SIZE", 3)
    job_progress_forget()
    announcement = services.announcement_create(course=world.course, subject="s", body="b")
    services.announcement_fan_out(announcement_id=announcement.pk, task_id="fan-out-1")
    connection.run_on_commit = []  # as Django drops callbacks: a new list (the dispatcher indexes the old one)
    TaskResult.objects.create(task_id="fan-out-1", task_name="notifications.tasks.fan_out_announcement",
                              status="SUCCESS", result="{}", meta="{}")  # fmt: skip

    # when the first chunk is delivered
    deliver_announcement_chunk.run(str(announcement.pk), 0)

    # then the fan-out's id answers the announcement's progress, though that job itself is done
    assert task_result_get(task_id="fan-out-1")["progress"] == {"done": 3, "total": 5}

    # and once the last chunk is delivered, nothing is left to show
    job_progress_forget()
    deliver_announcement_chunk.run(str(announcement.pk), 1)
    assert task_result_get(task_id="fan-out-1")["progress"] is None
    assert services.announcement_get(announcement_id=announcement.pk).status == Status.SENT
