"""Re-run failed jobs from the result store, each under a new id (lms.jobs.rerun)."""

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from lms.errors import Conflict, NotFound
from lms.jobs.rerun import RERUN_BATCH_SIZE, failed_results_to_rerun, task_result_rerun

# Failed jobs a dry run lists by name; the rest are counted.
DRY_RUN_LISTED = 50


class Command(BaseCommand):
    help = (
        "Re-run failed jobs (status FAILURE, not re-run yet) with their stored name and arguments, "
        "each under a new id recorded on the old result."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--task", metavar="NAME", help="only jobs of this task, e.g. certificates.tasks.generate_certificate"
        )
        parser.add_argument(
            "--since", metavar="ISO", help="only jobs that failed at or after this time, e.g. 2026-05-01T00:00:00Z"
        )
        parser.add_argument("--dry-run", action="store_true", help="list what would be re-run, change nothing")

    def handle(self, *args, task: str | None, since: str | None, dry_run: bool, **options):
        since_at = None
        if since:
            since_at = parse_datetime(since)
            if since_at is None or since_at.tzinfo is None:
                raise CommandError(
                    f"--since takes an ISO date-time with a timezone, e.g. 2026-05-01T00:00:00Z; got {since!r}."
                )
        rows = failed_results_to_rerun(task_name=task, since=since_at)
        total = rows.count()
        if dry_run:
            for task_id, name, done in rows.values_list("task_id", "task_name", "date_done")[:DRY_RUN_LISTED]:
                self.stdout.write(f"  would re-run: {name} {task_id} (failed {done:%Y-%m-%d %H:%M:%S})")
            self.stdout.write(self.style.SUCCESS(f"Dry run: {total} failed job(s) would be re-run."))
            return

        started = time.monotonic()
        rerun = refused = 0
        ids = list(rows.values_list("task_id", flat=True).iterator(RERUN_BATCH_SIZE))
        for task_id in tqdm(ids, unit="job", disable=total < 2):
            try:
                new_id = task_result_rerun(task_id=task_id)
            except (Conflict, NotFound) as exc:  # re-run meanwhile, or its arguments are unreadable
                refused += 1
                self.stderr.write(f"  not re-run: {task_id}: {exc.message}")
                continue
            rerun += 1
            self.stdout.write(f"  {task_id} -> {new_id}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Re-ran {rerun} failed job(s), refused {refused}, in {time.monotonic() - started:.1f}s."
            )
        )
