"""Course announcements on real processes: the API in this process, a `bulk` worker of the
test's own sending through Django's SMTP backend to a real SMTP server (aiosmtpd), PostgreSQL
and Redis. Exactly one e-mail and one notification per recipient; pause within 2 s, resume from
the ledger, cancel for good; a scheduled one started by real beat within 15 s, across a restart."""

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import Announcement, AnnouncementRecipient, Notification
from tests.notifications.announcement_data import audience
from tests.processes import BULK_QUEUE, broker_purge, start_worker, wait_for
from tests.smtp import SmtpSink, text_of

CHUNK = 25


@pytest.fixture(scope="module")
def sink():
    with SmtpSink() as server:
        yield server


def bulk_worker(tmp_dir, sink, **env: str):
    return start_worker(
        name=f"bulk-{time.monotonic_ns() % 10**8}", tmp_dir=tmp_dir, queues=(BULK_QUEUE,), concurrency=2,
        extra_args=("--prefetch-multiplier", "1"),
        env_overrides={**sink.env(), "ANNOUNCEMENT_CHUNK_SIZE": str(CHUNK), **env},
    )  # fmt: skip


@pytest.fixture(scope="module")
def fast_worker(django_db_setup, django_db_blocker, tmp_path_factory, sink):
    with django_db_blocker.unblock():
        broker_purge()
        worker = bulk_worker(tmp_path_factory.mktemp("bulk"), sink)
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def slow_worker(django_db_setup, django_db_blocker, tmp_path_factory, sink):
    """A bulk worker held to 20 messages per second (the shared limit, in Redis)."""
    with django_db_blocker.unblock():
        worker = bulk_worker(tmp_path_factory.mktemp("bulk-slow"), sink, BULK_EMAIL_RATE="20")
    yield worker
    worker.stop()


@pytest.fixture
def on_broker(transactional_db, settings, sink):
    settings.TASKS_FORCE_INLINE = False
    with sink.lock:
        sink.messages.clear()
    yield
    # nothing of this test may still write when the database is flushed
    wait_for(lambda: not Announcement.objects.filter(status="sending").exists(), timeout=60, what="sending to end")


def announcement_of(staff_client, world, **fields) -> dict:
    response = staff_client.post(
        f"/api/courses/{world.course.pk}/announcements/", {"subject": "Exam moved", "body": "Friday.", **fields},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    return response.json()


def state(staff_client, announcement_id) -> dict:
    return staff_client.get(f"/api/announcements/{announcement_id}/").json()


def test_every_recipient_gets_one_email_and_one_notification_from_real_workers(on_broker, fast_worker, sink,
                                                                             staff_client):  # fmt: skip
    # given a course of 60 active and 2 completed learners, plus ones who must get nothing
    world = audience(active=60, completed=2, prefix="it")

    # when staff announce to it through the API
    created = announcement_of(staff_client, world)

    # then the announcement finishes by itself: one e-mail and one notification per recipient
    wait_for(lambda: state(staff_client, created["id"])["status"] == "sent", timeout=60, what="the announcement")
    done = state(staff_client, created["id"])
    assert (done["recipients_total"], done["sent_count"], done["skipped_count"], done["failed_count"]) == (62, 62, 1, 0)
    expected = Counter(u.email for u in world.recipients)
    assert Counter(m["To"] for m in sink.messages) == expected
    notified = Notification.objects.filter(kind="announcement").values_list("user__email", flat=True)
    assert Counter(notified) == expected
    # in chunks of CHUNK, one SMTP session each, with the one-click unsubscribe header and link
    chunks = set(AnnouncementRecipient.objects.filter(status="sent").values_list("chunk", flat=True))
    assert chunks == {0, 1, 2}
    message = sink.messages[0]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"].strip().strip("<>") in text_of(message)


def test_pause_stops_within_2_s_resume_finishes_from_the_ledger_and_sends_nothing_twice(on_broker, slow_worker, sink,
                                                                                       staff_client):  # fmt: skip
    # given an announcement to 120 learners going out at 20 messages per second
    world = audience(active=120, completed=0, prefix="pause")
    created = announcement_of(staff_client, world)
    wait_for(lambda: sink.count() >= 20, timeout=60, what="sending to be under way")

    # when staff pause it
    assert staff_client.post(f"/api/announcements/{created['id']}/pause/").json()["status"] == "paused"
    paused_at = time.monotonic()

    # then within 2 s no new message goes out
    time.sleep(2)
    after_2s = sink.count()
    time.sleep(2)
    assert sink.count() == after_2s < 120, "messages kept going after the pause"
    print(f"paused at {after_2s} of 120 messages, {time.monotonic() - paused_at:.1f}s after the pause")

    # and resuming delivers the rest, each learner exactly once
    assert staff_client.post(f"/api/announcements/{created['id']}/resume/").json()["status"] == "sending"
    wait_for(lambda: state(staff_client, created["id"])["status"] == "sent", timeout=60, what="the rest")
    assert Counter(m["To"] for m in sink.messages) == Counter(u.email for u in world.recipients)


def test_cancel_stops_for_good(on_broker, slow_worker, sink, staff_client):
    # given an announcement under way at 20 messages per second
    world = audience(active=80, completed=0, prefix="cancel")
    created = announcement_of(staff_client, world)
    wait_for(lambda: sink.count() >= 10, timeout=60, what="sending to be under way")

    # when it is cancelled
    assert staff_client.post(f"/api/announcements/{created['id']}/cancel/").json()["status"] == "cancelled"
    time.sleep(2)
    stopped_at = sink.count()

    # then nothing more is ever sent, and it cannot be resumed
    time.sleep(3)
    assert sink.count() == stopped_at < 80
    assert staff_client.post(f"/api/announcements/{created['id']}/resume/").status_code == 409
    assert len(set(m["To"] for m in sink.messages)) == stopped_at  # none twice
    assert AnnouncementRecipient.objects.filter(status="pending").count() == 80 - stopped_at


def test_scheduled_announcement_is_started_by_beat_within_15_s_even_across_a_beat_restart(
    on_broker, fast_worker, sink, staff_client, start_beats, live_worker
):
    from lms.services import schedule_defaults_install

    # given the default schedules (the 5-second announcements tick) and a running beat
    schedule_defaults_install()
    world = audience(active=5, completed=0, prefix="sched")
    [beat] = start_beats("beat-a")

    # when an announcement is scheduled 6 s ahead, and beat is restarted before it is due
    send_at = timezone.now() + timedelta(seconds=6)
    created = announcement_of(staff_client, world, send_at=send_at.isoformat())
    assert created["status"] == "scheduled"
    beat.stop()
    [beat] = start_beats("beat-b")

    # then it starts within 15 s of send_at and goes out once to each learner
    wait_for(lambda: state(staff_client, created["id"])["status"] == "sent", timeout=40, what="the scheduled one")
    started = Announcement.objects.get(pk=created["id"]).started_at
    assert send_at <= started <= send_at + timedelta(seconds=15), started - send_at
    assert Counter(m["To"] for m in sink.messages) == Counter(u.email for u in world.active)
    print(f"started {(started - send_at).total_seconds():.1f}s after send_at")
