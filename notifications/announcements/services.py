"""Course announcements: creating, scheduling, controlling and fanning out.

Invariants:
- one recipient row per learner and announcement (unique), all created by one INSERT ... SELECT
  in the fan-out's transaction, together with the outbox rows of every chunk job: the ledger and
  the jobs that work it exist together or not at all, and a broker outage loses no job;
- the recipient rows are the ledger: a chunk job sends only `pending` rows and marks each one
  right after the server accepted it, so any retry, redelivery or resume continues from there;
- status moves only by conditional UPDATEs (scheduled -> sending, sending <-> paused, any open
  status -> cancelled, sending -> sent), so two beats, two clicks or a click racing a worker
  never start, finish or resume an announcement twice;
- a scheduled announcement is edited only while it is still scheduled, under the same condition;
- the periodic tick (every few seconds) starts due announcements and re-kicks a `sending` one
  whose chunk jobs stopped reporting (worker lost, job dropped): it finishes by itself.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from courses.models import Course
from enrollments.models import Enrollment
from lms.errors import Conflict, InvalidInput
from lms.jobs.dispatch import dispatch_many_on_commit, dispatch_on_commit
from lms.jobs.progress import job_progress
from lms.users.models import User
from notifications.models import Announcement, AnnouncementRecipient, NotificationPreference

logger = logging.getLogger(__name__)

# Recipients per chunk job: one SMTP session and one job per this many messages. A few hundred
# keeps a job to seconds (a lost one repeats little, pause and time limits bite quickly) while
# the per-job costs (a queue message, a connection, one rendering) stay far below the sending.
# ANNOUNCEMENT_CHUNK_SIZE (default 500) lets tests and benchmarks use other sizes.
CHUNK_SIZE = settings.ANNOUNCEMENT_CHUNK_SIZE

# Longer bodies are refused: an announcement is a message, not an attachment.
BODY_MAX_CHARS = 50_000

Status = Announcement.Status
AUDIENCE_STATUSES = {
    Announcement.Audience.ACTIVE: (Enrollment.Status.ACTIVE,),
    Announcement.Audience.COMPLETED: (Enrollment.Status.COMPLETED,),
    Announcement.Audience.ALL: (Enrollment.Status.ACTIVE, Enrollment.Status.COMPLETED),
}
OPEN_STATUSES = (Status.SCHEDULED, Status.SENDING, Status.PAUSED)


def _tasks():
    from notifications import tasks

    return tasks


# --- Reads ----------------------------------------------------------------------------------


def announcement_queryset() -> QuerySet[Announcement]:
    """Announcements with their live counters from the ledger (sent, failed, skipped, pending)."""
    return Announcement.objects.select_related("course").annotate(
        sent_count=Count("recipients", filter=Q(recipients__status=AnnouncementRecipient.Status.SENT)),
        failed_count=Count("recipients", filter=Q(recipients__status=AnnouncementRecipient.Status.FAILED)),
        skipped_count=Count("recipients", filter=Q(recipients__status=AnnouncementRecipient.Status.SKIPPED)),
        pending_count=Count("recipients", filter=Q(recipients__status=AnnouncementRecipient.Status.PENDING)),
    )


def announcement_get(*, announcement_id) -> Announcement | None:
    return announcement_queryset().filter(pk=announcement_id).first()


# --- Create, edit, control ------------------------------------------------------------------


def announcement_validate(*, subject: str, body: str, send_at: datetime | None, now: datetime | None = None) -> None:
    """Raise InvalidInput (naming the field) for what no announcement may have."""
    now = now or timezone.now()
    if not subject.strip():
        raise InvalidInput("The subject may not be blank.", field="subject")
    if not body.strip():
        raise InvalidInput("The body may not be blank.", field="body")
    if len(body) > BODY_MAX_CHARS:
        raise InvalidInput(f"The body may be at most {BODY_MAX_CHARS} characters.", field="body")
    if send_at is not None and send_at <= now:
        raise InvalidInput("send_at must be in the future (leave it out to send now).", field="send_at")


def announcement_create(
    *,
    course: Course,
    subject: str,
    body: str,
    audience: str = Announcement.Audience.ALL,
    send_at: datetime | None = None,
    created_by: User | None = None,
    now: datetime | None = None,
) -> Announcement:
    """A new announcement: sending at once (the fan-out queued after commit), or `scheduled`
    when `send_at` is given (which must be in the future)."""
    now = now or timezone.now()
    announcement_validate(subject=subject, body=body, send_at=send_at, now=now)
    if audience not in AUDIENCE_STATUSES:
        raise InvalidInput(f"Unknown audience {audience!r}.", field="audience")
    with transaction.atomic():
        announcement = Announcement.objects.create(
            course=course,
            subject=subject.strip(),
            body=body,
            audience=audience,
            send_at=send_at,
            created_by=created_by,
            status=Status.SCHEDULED if send_at else Status.SENDING,
            started_at=None if send_at else now,
        )
        if announcement.status == Status.SENDING:
            dispatch_on_commit(_tasks().fan_out_announcement, str(announcement.pk))
    logger.info("Announcement %s for course %s created (%s)", announcement.pk, course.pk, announcement.status)
    return announcement


def announcement_update(
    *,
    announcement: Announcement,
    subject: str,
    body: str,
    audience: str,
    send_at: datetime,
    now: datetime | None = None,
) -> Announcement:
    """Edit a scheduled announcement. Conflict once it has started (or was cancelled)."""
    now = now or timezone.now()
    announcement_validate(subject=subject, body=body, send_at=send_at, now=now)
    if send_at is None:
        raise InvalidInput("A scheduled announcement needs send_at.", field="send_at")
    updated = Announcement.objects.filter(pk=announcement.pk, status=Status.SCHEDULED).update(
        subject=subject.strip(), body=body, audience=audience, send_at=send_at
    )
    if not updated:
        raise Conflict("Only a scheduled announcement can be edited; this one has started or was cancelled.")
    announcement.refresh_from_db()
    return announcement


def _transition(announcement: Announcement, *, allowed: tuple[str, ...], to: str, verb: str, **fields) -> bool:
    updated = Announcement.objects.filter(pk=announcement.pk, status__in=allowed).update(status=to, **fields)
    if not updated:
        current = Announcement.objects.filter(pk=announcement.pk).values_list("status", flat=True).first()
        raise Conflict(f"A {current} announcement cannot be {verb}.")
    return True


def announcement_pause(*, announcement: Announcement) -> Announcement:
    """Stop sending: chunk jobs check the status at least every PAUSE_CHECK_SECONDS and stop
    before their next message; the ledger keeps the rest pending."""
    _transition(announcement, allowed=(Status.SENDING,), to=Status.PAUSED, verb="paused")
    logger.info("Announcement %s paused", announcement.pk)
    return announcement_get(announcement_id=announcement.pk)


def announcement_resume(*, announcement: Announcement) -> Announcement:
    """Continue from the ledger: one chunk job per chunk that still has pending recipients."""
    with transaction.atomic():
        _transition(announcement, allowed=(Status.PAUSED,), to=Status.SENDING, verb="resumed")
        _kick(Announcement.objects.get(pk=announcement.pk), now=timezone.now())
    logger.info("Announcement %s resumed", announcement.pk)
    return announcement_get(announcement_id=announcement.pk)


def announcement_cancel(*, announcement: Announcement, now: datetime | None = None) -> Announcement:
    """Stop for good (a scheduled one never starts); recipients not reached stay pending."""
    _transition(announcement, allowed=OPEN_STATUSES, to=Status.CANCELLED, verb="cancelled",
                finished_at=now or timezone.now())  # fmt: skip
    logger.info("Announcement %s cancelled", announcement.pk)
    return announcement_get(announcement_id=announcement.pk)


def announcement_finish_if_done(*, announcement_id, now: datetime | None = None) -> bool:
    """Mark a sending announcement sent once no recipient is pending. True if this call did."""
    if AnnouncementRecipient.objects.filter(
        announcement_id=announcement_id, status=AnnouncementRecipient.Status.PENDING
    ).exists():
        return False
    finished = Announcement.objects.filter(
        pk=announcement_id, status=Status.SENDING, fanned_out_at__isnull=False
    ).update(status=Status.SENT, finished_at=now or timezone.now())
    if finished:
        logger.info("Announcement %s sent to every recipient", announcement_id)
    return bool(finished)


# --- Fan-out --------------------------------------------------------------------------------


def _prep(field, value):
    return field.get_db_prep_value(field.to_python(value), connection)


def _create_recipients(announcement: Announcement) -> None:
    """Every matching learner's ledger row, in one INSERT ... SELECT.

    Set-based over the enrollments (read only, in the same statement: there is no per-learner
    round trip to make through enrollments' services at 100k rows). Opted-out learners get a
    `skipped` row and no chunk; the others are numbered into chunks of CHUNK_SIZE.
    """
    recipient, enrollment, user = AnnouncementRecipient._meta, Enrollment._meta, User._meta
    preference = NotificationPreference._meta
    statuses = AUDIENCE_STATUSES[announcement.audience]
    placeholders = ", ".join(["%s"] * len(statuses))
    sql = f"""
        WITH eligible AS (
            SELECT e.{enrollment.get_field("student").column} AS user_id,
                   COALESCE(p.course_announcements, TRUE) AS wanted
            FROM {enrollment.db_table} e
            JOIN {user.db_table} u ON u.{user.pk.column} = e.{enrollment.get_field("student").column}
            LEFT JOIN {preference.db_table} p ON p.{preference.pk.column} = u.{user.pk.column}
            WHERE e.{enrollment.get_field("course").column} = %s
              AND e.{enrollment.get_field("status").column} IN ({placeholders})
              AND u.is_active = TRUE
        ), numbered AS (
            SELECT user_id, wanted, ROW_NUMBER() OVER (PARTITION BY wanted ORDER BY user_id) - 1 AS n
            FROM eligible
        )
        INSERT INTO {recipient.db_table} (announcement_id, user_id, status, chunk, attempts, last_error)
        SELECT %s, user_id,
               CASE WHEN wanted THEN 'pending' ELSE 'skipped' END,
               CASE WHEN wanted THEN n / %s ELSE NULL END,
               0, ''
        FROM numbered
        WHERE TRUE
        ON CONFLICT (announcement_id, user_id) DO NOTHING
    """  # noqa: S608 - table and column names are the models' own; values are parameters
    params = [
        _prep(Course._meta.pk, announcement.course_id),
        *statuses,
        _prep(Announcement._meta.pk, announcement.pk),
        CHUNK_SIZE,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def announcement_progress_report(*, announcement_id) -> bool:
    """Report the announcement's `{done, total}` (recipients sent or failed, of those to mail) on
    its fan-out job's result row, the one job an operator follows (lms.jobs.progress; throttled
    there). Absolute counts from the ledger, so any chunk job may report, in any order."""
    row = Announcement.objects.filter(pk=announcement_id).values("fan_out_task_id", "recipients_total").first()
    if not row or not row["fan_out_task_id"]:
        return False
    done = AnnouncementRecipient.objects.filter(
        announcement_id=announcement_id,
        status__in=(AnnouncementRecipient.Status.SENT, AnnouncementRecipient.Status.FAILED),
    ).count()
    return job_progress(task_id=row["fan_out_task_id"], done=done, total=row["recipients_total"])


def _pending_chunks(announcement_id) -> list[int]:
    return list(
        AnnouncementRecipient.objects.filter(
            announcement_id=announcement_id, status=AnnouncementRecipient.Status.PENDING
        )
        .order_by("chunk")
        .values_list("chunk", flat=True)
        .distinct()
    )


def _dispatch_chunks(announcement_id, chunks: list[int]) -> list[str]:
    return dispatch_many_on_commit(_tasks().deliver_announcement_chunk, [(str(announcement_id), c) for c in chunks])


def announcement_fan_out(*, announcement_id, task_id: str = "", now: datetime | None = None) -> dict:
    """Create the recipient ledger and queue its chunk jobs, once.

    Runs only for a `sending` announcement that was not fanned out yet; a redelivered job finds
    `fanned_out_at` set and does nothing (the chunk jobs were queued with the ledger).
    """
    now = now or timezone.now()
    with transaction.atomic():
        announcement = Announcement.objects.select_for_update().filter(pk=announcement_id).first()
        if announcement is None:
            logger.warning("Announcement %s no longer exists; nothing to fan out", announcement_id)
            return {"status": "missing"}
        if announcement.status != Status.SENDING or announcement.fanned_out_at is not None:
            logger.info("Announcement %s is %s (fanned out: %s); fan-out does nothing", announcement_id,
                        announcement.status, announcement.fanned_out_at is not None)  # fmt: skip
            return {"status": announcement.status, "chunks": 0}
        _create_recipients(announcement)
        total = AnnouncementRecipient.objects.filter(
            announcement=announcement, status=AnnouncementRecipient.Status.PENDING
        ).count()
        chunks = -(-total // CHUNK_SIZE)
        Announcement.objects.filter(pk=announcement.pk).update(
            recipients_total=total, fanned_out_at=now, heartbeat_at=now, fan_out_task_id=task_id or ""
        )
        _dispatch_chunks(announcement.pk, list(range(chunks)))
        if total == 0:
            Announcement.objects.filter(pk=announcement.pk, status=Status.SENDING).update(
                status=Status.SENT, finished_at=now
            )
    logger.info("Announcement %s fanned out: %d recipient(s) in %d chunk job(s)", announcement_id, total, chunks)
    return {"status": "fanned_out", "recipients": total, "chunks": chunks}


# --- The periodic tick ----------------------------------------------------------------------


def _kick(announcement: Announcement, *, now: datetime) -> int:
    """Queue what a `sending` announcement still needs: its fan-out, or a chunk job for every
    chunk with pending rows (a duplicate of a job still queued finds nothing left to do)."""
    Announcement.objects.filter(pk=announcement.pk).update(heartbeat_at=now)
    if announcement.fanned_out_at is None:
        dispatch_on_commit(_tasks().fan_out_announcement, str(announcement.pk))
        return 1
    chunks = _pending_chunks(announcement.pk)
    if not chunks:
        announcement_finish_if_done(announcement_id=announcement.pk, now=now)
        return 0
    _dispatch_chunks(announcement.pk, chunks)
    return len(chunks)


def announcements_tick(*, now: datetime | None = None) -> dict:
    """Start every due scheduled announcement; re-kick sending ones that stopped progressing.

    Starting is a conditional UPDATE (scheduled -> sending) on rows locked with SKIP LOCKED, so
    two ticks at once (two beats, a redelivered job) start each announcement once; the fan-out
    is queued in the same transaction (the outbox), so a start is never lost either.
    """
    now = now or timezone.now()
    stall = timedelta(seconds=settings.ANNOUNCEMENT_STALL_SECONDS)
    with transaction.atomic():
        due = list(
            Announcement.objects.select_for_update(skip_locked=True)
            .filter(status=Status.SCHEDULED, send_at__lte=now)
            .values_list("pk", flat=True)
        )
        started = []
        for pk in due:
            if Announcement.objects.filter(pk=pk, status=Status.SCHEDULED).update(
                status=Status.SENDING, started_at=now
            ):
                dispatch_on_commit(_tasks().fan_out_announcement, str(pk))
                started.append(pk)
    kicked = 0
    stalled = (
        Announcement.objects.filter(status=Status.SENDING)
        .filter(Q(heartbeat_at__lt=now - stall) | Q(heartbeat_at__isnull=True, started_at__lt=now - stall))
        .only("pk", "fanned_out_at")
    )
    for announcement in stalled:
        with transaction.atomic():
            if Announcement.objects.select_for_update(skip_locked=True).filter(pk=announcement.pk).exists():
                kicked += _kick(announcement, now=now)
    if started or kicked:
        logger.info("Announcements tick: %d started, %d job(s) re-queued for stalled ones", len(started), kicked)
    return {"started": [str(pk) for pk in started], "requeued": kicked}
