"""Generate a weekly report now (what generate_weekly_report does every Monday morning)."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from enrollments.reports import (
    iso_week_label,
    previous_week_start,
    week_ended_check,
    week_start_of,
    weekly_report_generate,
)
from enrollments.tasks import generate_weekly_report as generate_weekly_report_task
from lms.dates import day_parse
from lms.errors import InvalidInput
from lms.management.sending import send_from_command


class Command(BaseCommand):
    help = (
        "Generate the weekly PDF report of a week (default: the last complete one), store it and e-mail it "
        "to active staff. Re-running a week replaces its PDF and e-mails nobody twice."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--week", metavar="YYYY-MM-DD", help="any day of the week to report (UTC); default: last week"
        )
        parser.add_argument(
            "--async", dest="run_async", action="store_true", help="queue the job for a worker; prints its task id"
        )

    def handle(self, *args, week: str | None, run_async: bool, **options):
        now = timezone.now()
        last_week = previous_week_start(now)
        try:
            week_start = week_start_of(day_parse(week)) if week else last_week
        except ValueError as exc:
            raise CommandError(
                f"--week takes any day of the week as YYYY-MM-DD, e.g. {last_week} for {iso_week_label(last_week)}; "
                f"got {week!r}."
            ) from exc
        try:
            week_ended_check(week_start=week_start, now=now)
        except InvalidInput as exc:
            raise CommandError(exc.message) from exc

        if run_async:
            send_from_command(self, generate_weekly_report_task, week_start.isoformat())
            return

        summary = weekly_report_generate(week_start=week_start, now=now)
        self.stdout.write(
            self.style.SUCCESS(
                f"Weekly report {summary['week']} (from {week_start}): {summary['courses']} course(s), "
                f"{summary['enrollments']} new enrollment(s), {summary['completions']} completion(s); "
                f"stored as {summary['file']}, for {summary['recipients']} staff member(s) "
                "(each e-mailed once per week)."
            )
        )
