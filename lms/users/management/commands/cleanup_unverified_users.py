"""Delete long-unverified accounts now (what the cleanup_unverified_users task does nightly)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from lms.commands import ProgressBar
from lms.users import selectors, services


class Command(BaseCommand):
    help = (
        "Delete accounts still unverified UNVERIFIED_USER_MAX_DAYS days after joining, with their data. "
        "Never staff or superusers. --dry-run only lists them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Report what would be deleted; delete nothing.")
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Unverified for at least this many days (default: the UNVERIFIED_USER_MAX_DAYS setting).",
        )

    def handle(self, *args, dry_run: bool, days: int | None, verbosity: int, **options):
        days = settings.UNVERIFIED_USER_MAX_DAYS if days is None else days
        if days < 1:
            raise CommandError("--days must be at least 1: a fresh account needs time to verify its address.")
        now = timezone.now()
        stale = selectors.users_unverified_stale(now=now, max_days=days)
        count = stale.count()
        if dry_run:
            self.stdout.write(
                f"Dry run: would delete {count} account(s) unverified for {days}+ days. Nothing was deleted."
            )
            if verbosity >= 2:
                for email, joined in stale.order_by("date_joined").values_list("email", "date_joined"):
                    self.stdout.write(f"  {email} (joined {joined:%Y-%m-%d})")
            return
        with ProgressBar(
            total=count, unit="account", desc="Unverified accounts", disable=verbosity == 0 or not count
        ) as bar:
            summary = services.user_cleanup_unverified(now=now, max_days=days, on_batch=bar.update)
        self.stdout.write(
            self.style.SUCCESS(
                f"Deleted {summary['users_deleted']} account(s) unverified for {days}+ days"
                f" ({summary['users_skipped']} skipped: other data protects them)."
            )
        )
