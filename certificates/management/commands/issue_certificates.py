"""Issue certificates for completed enrollments that have none (recovery if a job was lost)."""

import time

from django.core.management.base import BaseCommand
from django.db import transaction

from certificates.selectors import enrollments_missing_certificates
from certificates.services import certificates_issue_many
from certificates.tasks import certificate_batches
from certificates.tasks import generate_certificates as generate_certificates_task
from certificates.tasks import issue_course_certificates as issue_course_certificates_task
from lms.commands import ProgressBar, existing_course_id
from lms.jobs.dispatch import dispatch_many_on_commit, dispatch_on_commit

# Enrollment ids fetched per round trip.
BATCH_SIZE = 500
# Enrollments queued per batch with --async (as generate_certificates jobs of
# CERTIFICATES_PER_JOB): one outbox INSERT, one broker connection and one DELETE each, so a
# course of 100,000 completions costs 20 of each, not 100,000.
QUEUE_BATCH_SIZE = 5_000


class Command(BaseCommand):
    help = "Issue certificates for completed enrollments without one."

    def add_arguments(self, parser):
        parser.add_argument("--course", metavar="ID", help="only this course (UUID)")
        parser.add_argument("--dry-run", action="store_true", help="list what would be issued, change nothing")
        parser.add_argument(
            "--async", dest="run_async", action="store_true", help="queue the work (with --course: one job) instead"
        )

    def handle(self, *args, course: str | None, dry_run: bool, run_async: bool, **options):
        course_id = existing_course_id(course) if course else None

        missing = enrollments_missing_certificates(course_id=course_id)
        total = missing.count()
        if dry_run:
            for enrollment_id, email, title in missing.values_list("pk", "student__email", "course__title")[:50]:
                self.stdout.write(f"  would issue: enrollment {enrollment_id} ({email}, {title})")
            self.stdout.write(self.style.SUCCESS(f"Dry run: {total} certificate(s) would be issued."))
            return

        started = time.monotonic()
        if run_async and course_id is not None:
            # One course: one job with one id, which reports {done, total} while it runs
            # (GET /api/tasks/<id>/; DESIGN.md, "a long job that spans many items").
            with transaction.atomic():
                task_id = dispatch_on_commit(issue_course_certificates_task, str(course_id))
            self.stdout.write(self.style.SUCCESS(f"Queued one job issuing {total} certificate(s)."))
            self.stdout.write(f"Task id: {task_id}")
            return
        issued = skipped = 0
        ids = [str(pk) for pk in missing.values_list("pk", flat=True).iterator(BATCH_SIZE)]
        progress = ProgressBar(total=len(ids), unit="certificate", disable=total < 2)
        if run_async:
            for start in range(0, len(ids), QUEUE_BATCH_SIZE):
                chunk = ids[start : start + QUEUE_BATCH_SIZE]
                with transaction.atomic():  # the batch's outbox rows commit together, then publish
                    dispatch_many_on_commit(generate_certificates_task, certificate_batches(chunk))
                issued += len(chunk)
                progress.update(len(chunk))
        else:
            for (batch,) in certificate_batches(ids):
                outcome = certificates_issue_many(enrollment_ids=batch)
                issued += len(outcome.issued)
                skipped += len(outcome.skipped) + len(outcome.failed)
                progress.update(len(batch))
        progress.close()
        verb = "Queued" if run_async else "Issued"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {issued} certificate(s), skipped {skipped}, in {time.monotonic() - started:.1f}s."
            )
        )
