"""Set-based progress recalculation: the one piece of SQL that computes progress and status.

It recomputes completed/total lesson counts, the percentage and the status of every enrollment
of a course (or of one enrollment) in a single `UPDATE ... FROM (SELECT ... GROUP BY ...)`, not
a loop. Only rows whose values change are written. Rules:
- percentage = round(100 * completed / total, 2); 0 for a course without lessons;
- active and everything completed (total > 0) -> completed, completed_at set;
- completed but a lesson was added -> active again, completed_at cleared (a certificate
  already issued stays: it lives in its own table);
- dropped stays dropped (its counts are still refreshed).
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection

from courses.models import Lesson
from enrollments.models import Enrollment, LessonProgress

E = Enrollment._meta.db_table
LP = LessonProgress._meta.db_table
L = Lesson._meta.db_table
ACTIVE, COMPLETED, DROPPED = (Enrollment.Status.ACTIVE, Enrollment.Status.COMPLETED, Enrollment.Status.DROPPED)

# Placeholders: %(course)s, %(now)s and, for one enrollment, %(enrollment)s.
_UPDATE = f"""
UPDATE {E}
SET completed_lessons_count = s.done,
    total_lessons_count = s.total,
    progress_percentage = s.pct,
    status = s.new_status,
    completed_at = CASE
        WHEN s.new_status = '{COMPLETED}' THEN COALESCE({E}.completed_at, %(now)s)
        WHEN s.new_status = '{ACTIVE}' THEN NULL
        ELSE {E}.completed_at END,
    updated_at = %(now)s
FROM (
    SELECT d.id,
           d.old_status,
           d.done,
           t.n AS total,
           CASE WHEN t.n = 0 THEN 0 ELSE ROUND(100.0 * d.done / t.n, 2) END AS pct,
           CASE WHEN d.old_status = '{DROPPED}' THEN '{DROPPED}'
                WHEN t.n > 0 AND d.done >= t.n THEN '{COMPLETED}'
                ELSE '{ACTIVE}' END AS new_status
    FROM (
        -- Every enrollment of the course with its completed lessons, counted from the course's
        -- enrollments, so a small course walks the (enrollment, lesson) index instead of reading
        -- every course's progress. The lesson check is a LEFT JOIN counted by COUNT(l.id), not a
        -- filter: as a second filter PostgreSQL would multiply it with the course filter (they say
        -- the same thing) and take a large course for a tiny one.
        SELECT e.id, e.status AS old_status, COUNT(l.id) AS done
        FROM {E} e
        LEFT JOIN {LP} lp ON lp.enrollment_id = e.id
        LEFT JOIN {L} l ON l.id = lp.lesson_id AND l.course_id = %(course)s
        WHERE e.course_id = %(course)s {{enrollment_filter}}
        GROUP BY e.id
    ) d
    CROSS JOIN (SELECT COUNT(*) AS n FROM {L} WHERE course_id = %(course)s) t
) s
-- The counts hold one row per enrollment of the course (0 without progress), so the target joins
-- them directly. Joining them through a second, separately filtered copy of the enrollments made
-- PostgreSQL multiply two course filters, expect one row and rescan the counts per enrollment.
WHERE {E}.id = s.id
  AND {E}.course_id = %(course)s
  AND ({E}.completed_lessons_count <> s.done
       OR {E}.total_lessons_count <> s.total
       OR {E}.progress_percentage <> s.pct
       OR {E}.status <> s.new_status)
{{returning}}
"""  # noqa: S608 - built from model table names and status constants; values go in as parameters
_RETURNING_OLD_AND_NEW = f"RETURNING {E}.id, s.old_status, {E}.status"
# SQLite's RETURNING cannot name the FROM subquery's columns: it returns the new status only and
# the old ones are read just before, in the same transaction.
_RETURNING_NEW = f"RETURNING {E}.id, {E}.status"

# PostgreSQL folds the RETURNING rows into one summary row, so a 100k-row recalculation does not
# ship 100k rows to Python; other databases (SQLite in development) return them all.
_POSTGRES_SUMMARY = f"""
WITH changed (id, old_status, status) AS ({{update}})
SELECT COUNT(*),
       COALESCE(ARRAY_AGG(id) FILTER (WHERE old_status <> '{COMPLETED}' AND status = '{COMPLETED}'), '{{{{}}}}'),
       COUNT(*) FILTER (WHERE old_status = '{COMPLETED}' AND status = '{ACTIVE}')
FROM changed
"""  # noqa: S608 - constants only


@dataclass(frozen=True)
class RecalculationResult:
    changed: int = 0
    newly_completed: list[str] = field(default_factory=list)
    reopened: int = 0


def _db(value, model_field):
    return model_field.get_db_prep_value(value, connection, prepared=False)


def recalculate(*, course_id, now: datetime, enrollment_id=None) -> RecalculationResult:
    """Run the recalculation for a course, or one of its enrollments. Call inside a transaction."""
    params = {"course": _db(course_id, Lesson._meta.get_field("course")), "now": now}
    enrollment_filter = ""
    if enrollment_id is not None:
        params["enrollment"] = _db(enrollment_id, Enrollment._meta.pk)
        enrollment_filter = "AND e.id = %(enrollment)s"

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            update = _UPDATE.format(returning=_RETURNING_OLD_AND_NEW, enrollment_filter=enrollment_filter)
            cursor.execute(_POSTGRES_SUMMARY.format(update=update), params)
            changed, completed_ids, reopened = cursor.fetchone()
        return RecalculationResult(changed, [str(pk) for pk in completed_ids], reopened)

    scope = Enrollment.objects.filter(course_id=course_id)
    if enrollment_id is not None:
        scope = scope.filter(pk=enrollment_id)
    old_status = {str(pk): status for pk, status in scope.values_list("pk", "status")}
    with connection.cursor() as cursor:
        cursor.execute(_UPDATE.format(returning=_RETURNING_NEW, enrollment_filter=enrollment_filter), params)
        rows = [(str(Enrollment._meta.pk.to_python(pk)), new) for pk, new in cursor.fetchall()]
    return RecalculationResult(
        changed=len(rows),
        newly_completed=[pk for pk, new in rows if old_status[pk] != COMPLETED and new == COMPLETED],
        reopened=sum(1 for pk, new in rows if old_status[pk] == COMPLETED and new == ACTIVE),
    )


def course_lock(*, course_id, shared: bool) -> None:
    """Serialise a whole-course recalculation against single-lesson updates of that course.

    Lesson completions take the lock shared (they run side by side); a course recalculation
    takes it exclusively, so the counts it computes cannot go stale under it. PostgreSQL
    advisory locks, released at the end of the transaction; SQLite serialises writers anyway.
    """
    if connection.vendor != "postgresql":
        return
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    with connection.cursor() as cursor:
        # hashtextextended gives a stable 64-bit key for the course id.
        cursor.execute(f"SELECT {function}(hashtextextended(%s, 0))", [f"course-progress:{course_id}"])
