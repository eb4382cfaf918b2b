"""Delete expired refresh tokens now (what the cleanup_expired_tokens task does nightly)."""

from django.core.management.base import BaseCommand
from django.utils import timezone

from lms.commands import ProgressBar
from lms.users import selectors, services


class Command(BaseCommand):
    help = "Delete expired refresh tokens and their blacklist entries. --dry-run only counts them."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Report what would be deleted; delete nothing.")

    def handle(self, *args, dry_run: bool, verbosity: int, **options):
        now = timezone.now()
        tokens = selectors.outstanding_tokens_expired(now=now).count()
        if dry_run:
            blacklisted = selectors.blacklisted_tokens_expired(now=now).count()
            self.stdout.write(
                f"Dry run: would delete {tokens} expired refresh token(s) and {blacklisted} blacklist "
                "entr(ies). Nothing was deleted."
            )
            return
        with ProgressBar(
            total=tokens, unit="token", desc="Expired tokens", disable=verbosity == 0 or not tokens
        ) as bar:
            summary = services.token_cleanup_expired(now=now, on_batch=bar.update)
        self.stdout.write(
            self.style.SUCCESS(
                f"Deleted {summary['tokens_deleted']} expired refresh token(s) and "
                f"{summary['blacklist_entries_deleted']} blacklist entr(ies)."
            )
        )
