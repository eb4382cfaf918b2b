"""Delivering one chunk of an announcement: the work of one chunk job.

Invariants:
- one delivery of a chunk at a time: the job holds a PostgreSQL session advisory lock on
  (announcement, chunk) while it sends; a second delivery of the same chunk message (redelivery,
  a duplicate kick) finds it taken and leaves the chunk to the holder. The lock dies with the
  holder's database session, so a killed worker never leaves a chunk locked;
- a recipient is marked `sent` right after the SMTP server accepted its message (one UPDATE,
  autocommit), so a crash repeats at most the message in flight, and any later delivery sends
  only the rows still `pending`;
- one SMTP session per chunk, one rendering per announcement: each message is the rendered text
  with the learner's name and unsubscribe link substituted in;
- a permanent refusal (5xx) fails that recipient alone; a transient one (4xx, dropped connection,
  socket error) is retried here with backoff and jitter on a new connection, then by the task
  with its own backoff; a recipient is failed for good after RECIPIENT_MAX_ATTEMPTS;
- the job stops before its next message within PAUSE_CHECK_SECONDS of a pause or cancel, and
  hands over to a fresh job of its own after CHUNK_TIME_BUDGET_SECONDS (slow rate limits);
- the messages of all workers together respect BULK_EMAIL_RATE (lms/jobs/ratelimit.py);
- each recipient gets one in-app notification (kind `announcement`, unique dedupe key), created
  in bulk for the chunk before its e-mails go out.
"""

import logging
import random
import smtplib
import time
import uuid
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.core.mail.message import sanitize_address
from django.core.mail.utils import DNS_NAME
from django.db import connection
from django.template.loader import render_to_string
from django.utils import timezone

from lms.jobs.beat import broker_redis
from lms.jobs.dispatch import dispatch_on_commit
from lms.jobs.ratelimit import rate_limiter
from notifications.announcements import services
from notifications.announcements.preferences import unsubscribe_url
from notifications.models import Announcement, AnnouncementRecipient, Notification, NotificationPreference
from notifications.services import LAST_ERROR_MAX_CHARS, is_transient_email_error

logger = logging.getLogger(__name__)

# A chunk job re-reads its announcement's status at least this often (and before the first
# message): a pause takes effect within this plus one message's send time.
PAUSE_CHECK_SECONDS = 0.5
# How often a delivering chunk tells the tick it is alive (Announcement.heartbeat_at).
HEARTBEAT_SECONDS = 5.0
# After this long a chunk job queues a fresh job for the rest of its chunk and ends, so no job
# nears its time limit however low BULK_EMAIL_RATE is.
CHUNK_TIME_BUDGET_SECONDS = 240
# Retries of one message inside the job, on a new connection, before the job gives the chunk
# back to the task's own (longer) backoff.
IN_JOB_RETRIES = 2
IN_JOB_BACKOFF_SECONDS = 0.5
# A recipient whose message failed transiently this many times is failed for good.
RECIPIENT_MAX_ATTEMPTS = 8
RATE_LIMIT_KEY = "lms:bulk_email:rate"

# Placeholders in the rendered message, replaced per recipient (far cheaper than building a
# MIME message per recipient): ASCII without spaces, so header folding never splits one.
NAME_MARK = "__lms_name_3f9c__"
UNSUBSCRIBE_MARK = "__lms_unsubscribe_3f9c__"
TO_MARK = "lms-recipient-3f9c@placeholder.invalid"
RECIPIENT_MARK = "__lms_recipient_3f9c__"
MESSAGE_ID_MARK = "__lms_message_id_3f9c__"

Recipient = AnnouncementRecipient.Status


class TransientEmailError(Exception):
    """The SMTP server refused for now; the chunk job retries later from the ledger."""


@dataclass(frozen=True)
class RenderedAnnouncement:
    subject: str
    body: str  # with NAME_MARK and UNSUBSCRIBE_MARK
    # The whole message as sent, every per-recipient value a *_MARK: None when its body is
    # transfer-encoded (very long lines), where bytes cannot simply be substituted.
    wire: bytes | None

    def personalise(self, *, name: str, unsubscribe: str) -> str:
        return self.body.replace(NAME_MARK, name).replace(UNSUBSCRIBE_MARK, unsubscribe)

    def wire_for(self, *, email: str, name: str, unsubscribe: str, recipient_id, message_id: str) -> bytes:
        return (
            self.wire.replace(TO_MARK.encode(), email.encode())
            .replace(NAME_MARK.encode(), name.encode())
            .replace(UNSUBSCRIBE_MARK.encode(), unsubscribe.encode())
            .replace(RECIPIENT_MARK.encode(), str(recipient_id).encode())
            .replace(MESSAGE_ID_MARK.encode(), message_id.encode())
        )


@dataclass
class ChunkResult:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    stopped: str = ""  # why the job stopped before the end of its chunk, if it did
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"sent": self.sent, "failed": self.failed, "skipped": self.skipped, "stopped": self.stopped}


def announcement_render(announcement: Announcement) -> RenderedAnnouncement:
    context = {
        "announcement": announcement,
        "course": announcement.course,
        "name": NAME_MARK,
        "unsubscribe_url": UNSUBSCRIBE_MARK,
        "frontend_url": settings.FRONTEND_URL,
    }
    body = render_to_string("notifications/email/announcement.txt", context)
    template = _email(announcement.subject, body, announcement_id=announcement.pk, recipient_id=RECIPIENT_MARK,
                      email=TO_MARK, unsubscribe=UNSUBSCRIBE_MARK)  # fmt: skip
    template.extra_headers["Message-ID"] = f"<{MESSAGE_ID_MARK}>"
    wire = template.message().as_bytes(linesep="\r\n")
    head = wire.split(b"\r\n\r\n", 1)[0]
    if b"Content-Transfer-Encoding: 7bit" in head:
        # The template is ASCII; a learner's name may not be, and 8bit covers both.
        wire = wire.replace(b"Content-Transfer-Encoding: 7bit", b"Content-Transfer-Encoding: 8bit", 1)
    elif b"Content-Transfer-Encoding: 8bit" not in head:
        wire = None
    return RenderedAnnouncement(subject=announcement.subject, body=body, wire=wire)


def _email(subject: str, body: str, *, announcement_id, recipient_id, email: str, unsubscribe: str) -> EmailMessage:
    return EmailMessage(
        subject=subject,
        body=body,
        to=[email],
        headers={
            # RFC 2369 + RFC 8058: mailbox providers show an unsubscribe button that POSTs here.
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Precedence": "bulk",
            "Auto-Submitted": "auto-generated",
            "X-LMS-Announcement": str(announcement_id),
            "X-LMS-Recipient": str(recipient_id),
        },
    )


@dataclass(frozen=True)
class Outgoing:
    """One recipient's message: ready bytes for the SMTP fast path, or a Django EmailMessage."""

    email: str
    wire: bytes | None
    message: EmailMessage | None


def announcement_message(rendered: RenderedAnnouncement, *, announcement_id, recipient_id, email: str, name: str,
                         user_id, wire: bool) -> Outgoing:  # fmt: skip
    link = unsubscribe_url(user_id=user_id)
    name = name or email
    if wire and rendered.wire is not None:
        message_id = f"{announcement_id}.{recipient_id}@{DNS_NAME}"  # the same on a re-send: receivers may dedupe
        return Outgoing(email, rendered.wire_for(email=email, name=name, unsubscribe=link, recipient_id=recipient_id,
                                                 message_id=message_id), None)  # fmt: skip
    body = rendered.personalise(name=name, unsubscribe=link)
    return Outgoing(email, None, _email(rendered.subject, body, announcement_id=announcement_id,
                                        recipient_id=recipient_id, email=email, unsubscribe=link))  # fmt: skip


@contextmanager
def _asynchronous_commit():
    """Commits that return before their WAL is flushed to disk, for the per-message marks.

    Each `sent` mark is its own commit (a crash must repeat at most the message in flight), and
    waiting for a disk flush per message would cap a worker at the disk's flush rate. A mark
    committed this way survives any crash of the worker (PostgreSQL has it); only a crash of
    PostgreSQL itself can lose the last few hundred milliseconds of marks, whose messages are
    then sent again. Plain synchronous commits everywhere else.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    try:
        yield
    finally:
        with suppress(Exception), connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


@contextmanager
def _chunk_lock(announcement_id, chunk: int):
    """True while this session holds the chunk's lock; False if another delivery holds it."""
    if connection.vendor != "postgresql":  # development on SQLite: one process, inline
        yield True
        return
    name = f"announcement-chunk:{announcement_id}:{chunk}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [name])
        (locked,) = cursor.fetchone()
    try:
        yield locked
    finally:
        if locked:
            with suppress(Exception), connection.cursor() as cursor:  # a dead session released it anyway
                cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [name])


def _bulk_limiter():
    return rate_limiter(key=RATE_LIMIT_KEY, rate=settings.BULK_EMAIL_RATE,
                        client=broker_redis() if not settings.TASKS_FORCE_INLINE else None)  # fmt: skip


class _StatusWatch:
    """Re-reads the announcement's status at most every PAUSE_CHECK_SECONDS; beats the heartbeat."""

    def __init__(self, announcement_id):
        self.announcement_id = announcement_id
        self._checked = 0.0
        self._beat = time.monotonic()
        self.status = Announcement.Status.SENDING

    def still_sending(self) -> bool:
        now = time.monotonic()
        if now - self._checked >= PAUSE_CHECK_SECONDS:
            self._checked = now
            if now - self._beat >= HEARTBEAT_SECONDS:
                self._beat = now
                Announcement.objects.filter(pk=self.announcement_id).update(heartbeat_at=timezone.now())
                services.announcement_progress_report(announcement_id=self.announcement_id)
            self.status = (
                Announcement.objects.filter(pk=self.announcement_id).values_list("status", flat=True).first()
                or "deleted"
            )
        return self.status == Announcement.Status.SENDING


def _mark(recipient_id: int, status: str, **fields) -> None:
    AnnouncementRecipient.objects.filter(pk=recipient_id, status=Recipient.PENDING).update(status=status, **fields)


def _mark_sent(recipient_id: int) -> None:
    """The hot path, once per message: one plain UPDATE (the ORM's update() costs as much again
    in Python as the statement itself)."""
    table = AnnouncementRecipient._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = %s, sent_at = %s, attempts = attempts + 1 "  # noqa: S608 - own table
            "WHERE id = %s AND status = %s",
            [Recipient.SENT, timezone.now(), recipient_id, Recipient.PENDING],
        )


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:LAST_ERROR_MAX_CHARS]


def _skip_opted_out(announcement_id, chunk: int) -> int:
    """Learners who opted out after the fan-out are skipped, not mailed."""
    opted_out = NotificationPreference.objects.filter(course_announcements=False).values("user_id")
    return AnnouncementRecipient.objects.filter(
        announcement_id=announcement_id, chunk=chunk, status=Recipient.PENDING, user_id__in=opted_out
    ).update(status=Recipient.SKIPPED)


def _create_notifications(announcement: Announcement, chunk: int, rows: list[dict]) -> None:
    """The in-app copy of each pending recipient of the chunk: one row per recipient (unique
    dedupe key, conflicts ignored). The e-mail is tracked by the recipient row, so this row is
    `sent` from the start and never goes through the one-e-mail-per-job outbox."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        # One INSERT ... SELECT from the ledger: no model instance per recipient.
        notification, recipient = Notification._meta, AnnouncementRecipient._meta
        with connection.cursor() as cursor:
            cursor.execute(
                f"""INSERT INTO {notification.db_table} (id, user_id, kind, subject, body, body_html, attachment,
                        dedupe_key, status, attempts, last_error, created_at, sent_at)
                    SELECT gen_random_uuid(), r.user_id, %s, %s, %s, '', '', %s || r.user_id::text, %s, 0, '', %s, %s
                    FROM {recipient.db_table} r
                    WHERE r.announcement_id = %s AND r.chunk = %s AND r.status = %s
                    ON CONFLICT (dedupe_key) DO NOTHING""",  # noqa: S608 - the models' own tables
                [Notification.Kind.ANNOUNCEMENT, announcement.subject, announcement.body,
                 f"announcement:{announcement.pk}:", Notification.Status.SENT, now, now,
                 announcement.pk, chunk, Recipient.PENDING],
            )  # fmt: skip
        return
    Notification.objects.bulk_create(
        [
            Notification(
                id=uuid.uuid4(),
                user_id=row["user_id"],
                kind=Notification.Kind.ANNOUNCEMENT,
                subject=announcement.subject,
                body=announcement.body,
                dedupe_key=f"announcement:{announcement.pk}:{row['user_id']}",
                status=Notification.Status.SENT,
                sent_at=now,
            )
            for row in rows
        ],
        ignore_conflicts=True,
    )


class _Session:
    """One connection of the configured e-mail backend for the chunk, reopened after a transient
    failure. With Django's SMTP backend, a message goes out as ready bytes over the backend's own
    SMTP connection (opened, with TLS and login, by the backend); any other backend (files in
    development, memory in tests) gets a Django EmailMessage."""

    def __init__(self):
        self.connection = get_connection(fail_silently=False)
        self.wire = isinstance(self.connection, SmtpBackend)
        self.from_email = sanitize_address(settings.DEFAULT_FROM_EMAIL, settings.DEFAULT_CHARSET)
        self.opened = False

    def send(self, outgoing: Outgoing) -> None:
        if not self.opened:
            self.connection.open()
            self.opened = True
        if outgoing.wire is not None:
            smtp = self.connection.connection
            if smtp is None:
                raise smtplib.SMTPServerDisconnected("the SMTP connection is not open")
            smtp.ehlo_or_helo_if_needed()
            if smtp.has_extn("pipelining"):
                _sendmail_pipelined(smtp, self.from_email, outgoing.email, outgoing.wire)
            else:
                smtp.sendmail(self.from_email, [outgoing.email], outgoing.wire)
        elif not self.connection.send_messages([outgoing.message]):
            raise smtplib.SMTPServerDisconnected("the backend sent nothing (connection not open)")

    def reset(self) -> None:
        with suppress(Exception):
            self.connection.close()
        self.opened = False

    def close(self) -> None:
        self.reset()


def _sendmail_pipelined(smtp: smtplib.SMTP, from_email: str, to: str, wire: bytes) -> None:
    """smtplib's sendmail for one recipient with RFC 2920 pipelining: MAIL, RCPT and DATA go in
    one write and their replies are read together, two round trips per message instead of four.
    Raises what sendmail raises, so failures are classified the same way."""
    smtp.send(f"MAIL FROM:{smtplib.quoteaddr(from_email)}\r\nRCPT TO:{smtplib.quoteaddr(to)}\r\nDATA\r\n")
    (mail_code, mail_reply), (rcpt_code, rcpt_reply), (data_code, data_reply) = (
        smtp.getreply(),
        smtp.getreply(),
        smtp.getreply(),
    )
    if data_code == 354 and (mail_code != 250 or rcpt_code not in (250, 251)):
        smtp.send(b".\r\n")  # the server took DATA anyway: end an empty message, then reset
        smtp.getreply()
    if 421 in (mail_code, rcpt_code, data_code):
        smtp.close()
    elif (mail_code, data_code) != (250, 354) or rcpt_code not in (250, 251):
        smtp.rset()
    if mail_code != 250:
        raise smtplib.SMTPSenderRefused(mail_code, mail_reply, from_email)
    if rcpt_code not in (250, 251):
        raise smtplib.SMTPRecipientsRefused({to: (rcpt_code, rcpt_reply)})
    if data_code != 354:
        raise smtplib.SMTPDataError(data_code, data_reply)
    data = smtplib._quote_periods(wire)
    if data[-2:] != b"\r\n":
        data += b"\r\n"
    smtp.send(data + b".\r\n")
    code, reply = smtp.getreply()
    if code != 250:
        if code == 421:
            smtp.close()
        else:
            smtp.rset()
        raise smtplib.SMTPDataError(code, reply)


def _backoff(attempt: int) -> float:
    return IN_JOB_BACKOFF_SECONDS * (2**attempt) * (0.5 + random.random())  # noqa: S311 - jitter, not crypto


def announcement_deliver_chunk(*, announcement_id, chunk: int, final_attempt: bool = False) -> ChunkResult:
    """Send the pending recipients of one chunk. Raises TransientEmailError (after recording the
    attempt) when the server keeps refusing for now, for the task to retry later."""
    result = ChunkResult()
    announcement = Announcement.objects.select_related("course").filter(pk=announcement_id).first()
    if announcement is None:
        result.stopped = "missing"
        return result
    if announcement.status != Announcement.Status.SENDING:
        result.stopped = announcement.status
        return result
    with _chunk_lock(announcement_id, chunk) as locked:
        if not locked:
            logger.info("Chunk %s of announcement %s is being delivered by another job", chunk, announcement_id)
            result.stopped = "busy"
            return result
        try:
            _deliver_locked(announcement, chunk, result, final_attempt=final_attempt)
        finally:
            logger.info("Announcement %s chunk %s: %s", announcement_id, chunk, result.as_dict())
    # After the lock is released: a resume or a budget hand-over that came while this job was
    # stopping found the chunk busy and left it to this job, so queue the rest now.
    if result.stopped in (Announcement.Status.PAUSED, "budget"):
        status = Announcement.objects.filter(pk=announcement_id).values_list("status", flat=True).first()
        if (
            status == Announcement.Status.SENDING
            and AnnouncementRecipient.objects.filter(
                announcement_id=announcement_id, chunk=chunk, status=Recipient.PENDING
            ).exists()
        ):
            from notifications.tasks import deliver_announcement_chunk as deliver_announcement_chunk_task

            dispatch_on_commit(deliver_announcement_chunk_task, str(announcement_id), chunk)
    elif not result.stopped:
        services.announcement_finish_if_done(announcement_id=announcement_id)
    services.announcement_progress_report(announcement_id=announcement_id)
    return result


def _deliver_locked(announcement: Announcement, chunk: int, result: ChunkResult, *, final_attempt: bool) -> None:
    result.skipped = _skip_opted_out(announcement.pk, chunk)
    rows = list(
        AnnouncementRecipient.objects.filter(announcement=announcement, chunk=chunk, status=Recipient.PENDING)
        .order_by("pk")
        .values("pk", "user_id", "attempts", "user__email", "user__full_name")
    )
    if not rows:
        return
    _create_notifications(announcement, chunk, rows)
    rendered = announcement_render(announcement)
    limiter = _bulk_limiter()
    watch = _StatusWatch(announcement.pk)
    started = time.monotonic()
    session = _Session()
    with _asynchronous_commit():
        try:
            for row in rows:
                if not watch.still_sending():
                    result.stopped = watch.status
                    return
                if time.monotonic() - started > CHUNK_TIME_BUDGET_SECONDS:
                    result.stopped = "budget"
                    return
                message = announcement_message(
                    rendered, announcement_id=announcement.pk, recipient_id=row["pk"], email=row["user__email"],
                    name=row["user__full_name"], user_id=row["user_id"], wire=session.wire,
                )  # fmt: skip
                _send_one(session, limiter, message, row, result, final_attempt=final_attempt)
        finally:
            session.close()


def _send_one(session: _Session, limiter, message: Outgoing, row: dict, result: ChunkResult, *,
              final_attempt: bool) -> None:  # fmt: skip
    for attempt in range(IN_JOB_RETRIES + 1):
        limiter.acquire()
        try:
            session.send(message)
        except Exception as exc:  # classified below, never swallowed
            session.reset()
            if not is_transient_email_error(exc):
                _mark(row["pk"], Recipient.FAILED, attempts=row["attempts"] + 1, last_error=_error_text(exc))
                result.failed += 1
                logger.warning("Recipient %s refused for good: %s", row["pk"], _error_text(exc))
                return
            if attempt < IN_JOB_RETRIES:
                time.sleep(_backoff(attempt))
                continue
            row["attempts"] += 1
            if row["attempts"] >= RECIPIENT_MAX_ATTEMPTS or final_attempt:
                _mark(row["pk"], Recipient.FAILED, attempts=row["attempts"], last_error=_error_text(exc))
                result.failed += 1
                return
            AnnouncementRecipient.objects.filter(pk=row["pk"]).update(
                attempts=row["attempts"], last_error=_error_text(exc)
            )
            raise TransientEmailError(_error_text(exc)) from exc
        else:
            _mark_sent(row["pk"])
            result.sent += 1
            return
