"""The weekly report: each course's new enrollments and completions of one ISO week, as a PDF
stored for staff and e-mailed to them.

Invariants:
- a week runs from Monday 00:00 UTC to the next Monday, and is reported only once it has ended;
- one WeeklyReport row per week (unique `week_start`); a run holds that row's lock while it
  counts, renders and stores, so two runs of the same week take turns;
- the PDF is stored under a name fixed by the week, `reports/weekly/<ISO year>-W<week>.pdf`: a
  re-run, or a retry after a crash, overwrites it and never leaves a second copy;
- every active staff user gets one e-mail per week, with the PDF attached: one Notification
  per user and week (dedupe key `weekly_report:<week>:<user id>`), created in the report's
  transaction and sent after commit. A re-run e-mails nobody twice; staff added since get theirs;
- the figures are counted by `enrollments.analytics.course_figures`, so "new enrollments" and
  "completions" mean exactly what they mean in the hourly and daily analytics.
"""

import hashlib
import logging
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from courses.models import Course
from enrollments.analytics import course_figures
from enrollments.models import WeeklyReport
from enrollments.report_pdf import CourseRow, render_weekly_report_pdf
from lms.errors import InvalidInput
from lms.users.selectors import users_staff_active
from notifications.models import Notification
from notifications.services import notification_send

logger = logging.getLogger(__name__)

WEEK = timedelta(days=7)


def week_start_of(day: date) -> date:
    """The Monday of the ISO week `day` is in."""
    return day - timedelta(days=day.weekday())


def previous_week_start(now: datetime) -> date:
    """The Monday of the last complete week before `now` (the one a scheduled run reports on)."""
    return week_start_of(now.astimezone(UTC).date()) - WEEK


def week_bounds(week_start: date) -> tuple[datetime, datetime]:
    start = datetime.combine(week_start, time.min, tzinfo=UTC)
    return start, start + WEEK


def iso_week_label(week_start: date) -> str:
    year, week, _ = week_start.isocalendar()
    return f"{year}-W{week:02d}"


def week_ended_check(*, week_start: date, now: datetime) -> None:
    """InvalidInput unless the week containing `week_start` is over: a report is of a whole week."""
    _, end = week_bounds(week_start_of(week_start))
    if end > now:
        label = iso_week_label(week_start_of(week_start))
        raise InvalidInput(
            f"The week {label} has not ended yet (it ends {end:%Y-%m-%d %H:%M} UTC); "
            f"report an earlier week, e.g. the last complete one, {iso_week_label(previous_week_start(now))}.",
            field="week_start",
        )


def weekly_report_file_name(week_start: date) -> str:
    return f"reports/weekly/{iso_week_label(week_start)}.pdf"


def weekly_report_figures(*, week_start: date) -> dict:
    """Each course with activity in the week, busiest first, and the totals.

    `{"courses": [{"course_id", "title", "enrollments", "completions"}, ...],
      "totals": {"courses", "enrollments", "completions"}}`: two aggregate queries and one for
    the titles, however many courses there are.
    """
    start, end = week_bounds(week_start)
    figures = course_figures(start=start, end=end, metrics=("new_enrollments", "completions"))
    enrolled, completed = figures["new_enrollments"], figures["completions"]
    course_ids = enrolled.keys() | completed.keys()
    titles = dict(Course.objects.filter(pk__in=course_ids).values_list("pk", "title"))
    courses = [
        {
            "course_id": str(course_id),
            "title": titles.get(course_id, ""),
            "enrollments": enrolled.get(course_id, 0),
            "completions": completed.get(course_id, 0),
        }
        for course_id in course_ids
    ]
    courses.sort(key=lambda c: (-(c["enrollments"] + c["completions"]), c["title"].casefold(), c["course_id"]))
    return {
        "courses": courses,
        "totals": {
            "courses": len(courses),
            "enrollments": sum(enrolled.values()),
            "completions": sum(completed.values()),
        },
    }


def _store(name: str, content: bytes) -> str:
    # FileSystemStorage would pick another name rather than overwrite: make room first.
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(content))


def weekly_report_admin_url(*, report: WeeklyReport) -> str:
    return settings.FRONTEND_URL + reverse("admin:enrollments_weeklyreport_pdf", args=[report.pk])


def weekly_report_generate(*, week_start: date, now: datetime | None = None) -> dict:
    """Count, render, store and e-mail the report of the week containing `week_start`.

    Raises InvalidInput for a week that has not ended. Returns a summary:
    `{week, week_start, courses, enrollments, completions, recipients, file}`.
    """
    now = now or timezone.now()
    week_start = week_start_of(week_start)
    week_ended_check(week_start=week_start, now=now)
    label = iso_week_label(week_start)
    with transaction.atomic():
        report, _ = WeeklyReport.objects.select_for_update().get_or_create(week_start=week_start)
        figures = weekly_report_figures(week_start=week_start)
        content = render_weekly_report_pdf(
            week_label=label,
            week_start=week_start,
            rows=[CourseRow(c["title"], c["enrollments"], c["completions"]) for c in figures["courses"]],
            generated_at=now,
        )
        # Written before the row commits, under the week's fixed name: if the transaction fails,
        # the next run overwrites the file.
        report.file.name = _store(weekly_report_file_name(week_start), content)
        report.sha256 = hashlib.sha256(content).hexdigest()
        report.figures = figures
        report.generated_at = now
        report.save()
        recipients = 0
        for user in users_staff_active().order_by("pk"):
            notification_send(
                user=user,
                kind=Notification.Kind.WEEKLY_REPORT,
                dedupe_key=f"weekly_report:{label}:{user.pk}",
                context={
                    "week": label,
                    "first_day": week_start,
                    "last_day": week_start + timedelta(days=6),
                    "totals": figures["totals"],
                    "courses": figures["courses"][:5],
                    "admin_url": weekly_report_admin_url(report=report),
                },
                attachment=report.file.name,
            )
            recipients += 1
    totals = figures["totals"]
    logger.info(
        "Weekly report %s: %d course(s), %d enrollment(s), %d completion(s); stored as %s, for %d staff",
        label, totals["courses"], totals["enrollments"], totals["completions"], report.file.name, recipients,
    )  # fmt: skip
    return {
        "week": label,
        "week_start": week_start.isoformat(),
        **totals,
        "recipients": recipients,
        "file": report.file.name,
    }
