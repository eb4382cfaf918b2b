"""Install the default periodic schedules in the database (idempotent)."""

from django.core.management.base import BaseCommand

from lms.celery import app
from lms.services import schedule_defaults_install


class Command(BaseCommand):
    help = (
        "Install the default periodic schedules (DESIGN.md, 'Schedules') in the database. "
        "Re-running it creates only what is missing and never changes a stored schedule; "
        "--reset puts the defaults back."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Also restore every existing default schedule (task, timing, arguments, enabled); "
            "admin edits to them are lost, the run history is kept.",
        )

    def handle(self, *args, reset: bool, **options):
        result = schedule_defaults_install(reset=reset)
        self.stdout.write("Crontabs in cron order: minute hour day-of-month month day-of-week.")
        for label, defaults in (("created", result.created), ("reset", result.reset), ("kept", result.kept)):
            for default in defaults:
                self.stdout.write(f"  {label:<8} {default}")
        unregistered = sorted({d.task for d in (*result.created, *result.reset, *result.kept)} - set(app.tasks.keys()))
        for task_name in unregistered:
            self.stdout.write(
                self.style.WARNING(f"  note: {task_name} is not a registered task in this code base yet.")
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Schedules: {len(result.created)} created, {len(result.reset)} reset, {len(result.kept)} kept."
            )
        )
