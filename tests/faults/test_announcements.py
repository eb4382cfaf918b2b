"""Course announcements under faults: a bulk worker SIGKILLed twice mid-send, the broker gone
while the fan-out commits. Each test has its own Redis, a real SMTP server and real workers."""

import time
from collections import Counter

from lms.jobs.dispatch import dispatcher
from lms.jobs.outbox import outbox_dispatch_pending
from lms.models import OutboxMessage
from notifications.announcements import services
from notifications.models import Announcement, AnnouncementRecipient, Notification
from tests.faults.infra import queue_sizes, report
from tests.notifications.announcement_data import audience
from tests.processes import BULK_QUEUE, wait_for
from tests.smtp import SmtpSink

RECIPIENTS = 400
CHUNK = 50


def delivered(sink: SmtpSink) -> Counter:
    with sink.lock:
        return Counter(m["X-LMS-Recipient"] for m in sink.messages)


def outcome(sink: SmtpSink, announcement: Announcement) -> dict:
    """Missing and duplicated e-mails and notifications, against the ledger."""
    mails = delivered(sink)
    ledger = AnnouncementRecipient.objects.filter(announcement=announcement)
    rows = set(ledger.filter(status="pending").values_list("pk", flat=True))
    expected = {str(pk) for pk in ledger.exclude(status="skipped").values_list("pk", flat=True)}
    notified = Counter(Notification.objects.filter(kind="announcement").values_list("user_id", flat=True))
    return {
        "missing": len(expected - set(mails)),
        "duplicated": sum(n - 1 for n in mails.values()),
        "pending": len(rows),
        "notifications": sum(notified.values()),
        "notifications_duplicated": sum(n - 1 for n in notified.values()),
        "emails": sum(mails.values()),
    }


def test_bulk_worker_sigkilled_twice_mid_send_loses_nothing_and_finishes_by_itself(stack_for, redis_server, settings):
    # given 400 recipients in chunks of 50, sent at 40 messages per second by a bulk worker whose
    # unacknowledged jobs Redis hands out again 6 s after a worker dies
    visibility, scan_every, rate = 6, 1, 40
    with SmtpSink() as sink:
        stack = stack_for(
            redis_server.url,
            CELERY_VISIBILITY_TIMEOUT=str(visibility),
            CELERY_UNACKED_RESTORE_INTERVAL=str(scan_every),
            ANNOUNCEMENT_CHUNK_SIZE=str(CHUNK),
            BULK_EMAIL_RATE=str(rate),
            **sink.env(),
        )
        settings.TASKS_FORCE_INLINE = False  # the fan-out and chunks run on the worker (chunks of CHUNK)
        world = audience(active=RECIPIENTS, completed=0, prefix="kill")
        worker = stack.worker(concurrency=2, queues=(BULK_QUEUE,))
        announcement = services.announcement_create(course=world.course, subject="Exam moved", body="Friday.")

        # when the whole worker (parent and both pool processes) is SIGKILLed mid-send, twice,
        # a new worker starting after each kill
        killed_processes = 0
        for threshold in (100, 250):
            wait_for(lambda t=threshold: sink.count() >= t, timeout=60, what=f"{threshold} messages")
            worker.kill_group()
            killed_processes += 2  # the pool processes, each sending at most one message
            report(f"injected: SIGKILL worker group {worker.proc.pid} after {sink.count()} of {RECIPIENTS} messages")
            worker = stack.worker(concurrency=2, queues=(BULK_QUEUE,))
        killed_at = time.monotonic()

        # then the announcement finishes by itself: redelivery, the remaining messages at the
        # rate, start-up slack
        bound = visibility + scan_every + RECIPIENTS / rate + 30
        wait_for(lambda: Announcement.objects.get(pk=announcement.pk).status == "sent", timeout=bound,
                 what="the announcement to finish")  # fmt: skip
        counts = outcome(sink, announcement)
        report(f"recovered: sent {time.monotonic() - killed_at:.1f}s after the last kill (bound {bound:.0f}s)")
        report("[bulk worker killed twice] " + ", ".join(f"{k} = {v}" for k, v in counts.items()))
        assert counts["missing"] == 0 and counts["pending"] == 0, counts
        assert counts["duplicated"] <= killed_processes, counts
        assert (counts["notifications"], counts["notifications_duplicated"]) == (RECIPIENTS, 0), counts
        wait_for(lambda: not any(queue_sizes(redis_server.url, (BULK_QUEUE,)).values()), what="bulk queue to drain")


def test_broker_down_while_the_fan_out_commits_loses_no_chunk_job(stack_for, redis_server, settings, monkeypatch):
    # given an announcement to 200 learners in 4 chunks, and a bulk worker
    with SmtpSink() as sink:
        stack = stack_for(redis_server.url, ANNOUNCEMENT_CHUNK_SIZE=str(CHUNK), **sink.env())
        settings.TASKS_FORCE_INLINE = False
        monkeypatch.setattr(services, "CHUNK_SIZE", CHUNK)
        world = audience(active=200, completed=0, prefix="outage")
        announcement = Announcement.objects.create(course=world.course, subject="s", body="b", status="sending")

        # when Redis is down as the fan-out commits its ledger and chunk jobs (the worker's code,
        # run here so the outage hits exactly that commit)
        redis_server.stop()
        report("injected: Redis stopped before the fan-out commits")
        services.announcement_fan_out(announcement_id=announcement.pk)
        waiting = OutboxMessage.objects.filter(task_name="notifications.tasks.deliver_announcement_chunk").count()
        report(f"during the outage: {waiting} chunk job(s) waiting in the outbox")
        assert waiting == 200 // CHUNK
        assert AnnouncementRecipient.objects.filter(announcement=announcement, status="pending").count() == 200

        # then once Redis is back, the outbox sweep publishes them and everything is sent once
        redis_server.start()
        dispatcher.reset()
        stack.worker(concurrency=2, queues=(BULK_QUEUE,))
        assert outbox_dispatch_pending(grace_seconds=0)["published"] == waiting
        wait_for(lambda: Announcement.objects.get(pk=announcement.pk).status == "sent", timeout=60,
                 what="the announcement to finish")  # fmt: skip
        counts = outcome(sink, announcement)
        report("[broker down at fan-out] " + ", ".join(f"{k} = {v}" for k, v in counts.items()))
        assert (counts["missing"], counts["duplicated"], counts["pending"]) == (0, 0, 0), counts
        assert not OutboxMessage.objects.exists()
