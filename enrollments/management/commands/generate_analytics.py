"""Compute a day's course analytics now (what generate_daily_analytics does nightly), and its hours."""

from datetime import UTC, datetime, time, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from enrollments.analytics import course_activity_compute, previous_period_start
from enrollments.models import CourseActivity
from lms.commands import ProgressBar
from lms.dates import day_parse

HOURS_PER_DAY = 24


class Command(BaseCommand):
    help = (
        "Compute the daily course analytics (new enrollments, completions, active learners, certificates) "
        "of a date, default yesterday (UTC); --hourly also computes each of its hours. Re-running replaces "
        "the figures."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", dest="day", metavar="YYYY-MM-DD", help="the day (UTC); default: yesterday")
        parser.add_argument("--hourly", action="store_true", help="also compute each of the day's 24 hours")

    def handle(self, *args, day: str | None, hourly: bool, verbosity: int, **options):
        now = timezone.now()
        yesterday = previous_period_start(now, CourseActivity.Granularity.DAY).date()
        try:
            the_day = day_parse(day) if day else yesterday
        except ValueError as exc:
            raise CommandError(f"--date takes a day as YYYY-MM-DD, e.g. {yesterday}; got {day!r}.") from exc
        if the_day > now.date():
            raise CommandError(
                f"--date {the_day} is in the future: there is nothing to count yet. Give today or an earlier day."
            )
        start = datetime.combine(the_day, time.min, tzinfo=UTC)

        daily = course_activity_compute(granularity=CourseActivity.Granularity.DAY, period_start=start)
        hours = 0
        if hourly:
            # Hours that have not begun have nothing to count (and no rows to replace).
            begun = [start + timedelta(hours=h) for h in range(HOURS_PER_DAY) if start + timedelta(hours=h) <= now]
            for period_start in ProgressBar(begun, unit="hour", desc=f"Hours of {the_day}", disable=verbosity == 0):
                course_activity_compute(granularity=CourseActivity.Granularity.HOUR, period_start=period_start)
                hours += 1

        if the_day == now.date():
            self.stdout.write(
                self.style.WARNING(f"{the_day} is not over yet: run this again tomorrow for its full figures.")
            )
        hourly_note = f"; {hours} hour(s) computed" if hourly else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Analytics for {the_day}: {daily['courses']} course(s), {daily['new_enrollments']} new enrollment(s), "
                f"{daily['completions']} completion(s), {daily['active_learners']} active learner(s), "
                f"{daily['certificates_issued']} certificate(s) issued{hourly_note}."
            )
        )
