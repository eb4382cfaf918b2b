"""Archive old notifications and task results now (what monthly_archive does on day 1)."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from enrollments.tasks import monthly_archive as monthly_archive_task
from lms.archive import archive_cutoff, archive_plan, archive_run, month_label, month_parse, month_previous
from lms.commands import ProgressBar
from lms.errors import Conflict, InvalidInput
from lms.management.sending import send_from_command


class Command(BaseCommand):
    help = (
        "Write notifications and task results older than ARCHIVE_RETENTION_DAYS (as of the end of the month) "
        "to archive/<YYYY-MM>/ in storage as gzip JSON lines, then delete them. --dry-run only counts them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--month", metavar="YYYY-MM", help="the month to archive; default: the last one")
        parser.add_argument("--dry-run", action="store_true", help="report what would be archived; change nothing")
        parser.add_argument(
            "--async", dest="run_async", action="store_true", help="queue the job for a worker; prints its task id"
        )

    def handle(self, *args, month: str | None, dry_run: bool, run_async: bool, verbosity: int, **options):
        if dry_run and run_async:
            raise CommandError("--dry-run runs here and changes nothing; leave out --async.")
        now = timezone.now()
        try:
            month_start = month_parse(month) if month else month_previous(now)
        except ValueError as exc:
            raise CommandError(f"--month: {exc}.") from exc
        try:
            archive_cutoff(month=month_start, now=now)
        except InvalidInput as exc:
            raise CommandError(exc.message) from exc

        if dry_run:
            plan = archive_plan(month=month_start, now=now)
            self.stdout.write(
                f"Dry run for {plan['month']} (cutoff {plan['cutoff']}): would archive and delete "
                f"{plan['notifications']} notification(s) and {plan['task_results']} task result(s) "
                f"into {plan['folder']}/."
            )
            if plan["unsettled_parts"]:
                self.stdout.write(
                    f"It would also settle {plan['unsettled_parts']} part file(s) an interrupted run left behind."
                )
            self.stdout.write("Nothing was changed.")
            return

        if run_async:
            send_from_command(self, monthly_archive_task, month_label(month_start))
            return

        plan = archive_plan(month=month_start, now=now)
        total = plan["notifications"] + plan["task_results"]
        bar = ProgressBar(total=total, unit="row", desc=f"Archive {plan['month']}", disable=verbosity == 0 or not total)
        try:
            with bar:
                summary = archive_run(month=month_start, now=now, on_batch=bar.update)
        except Conflict as exc:
            raise CommandError(exc.message) from exc
        recovered = summary["recovered_files"]
        settled_note = f"; settled {len(recovered)} file(s) an interrupted run left" if recovered else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Archived {summary['month']} (cutoff {summary['cutoff']}): {summary['notifications_archived']} "
                f"notification(s) and {summary['task_results_archived']} task result(s) deleted, "
                f"{len(summary['files'])} new file(s) in {plan['folder']}/{settled_note}."
            )
        )
