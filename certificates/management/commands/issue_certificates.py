"""Issue certificates for completed enrollments that have none (recovery if a job was lost)."""

import time

from django.core.management.base import BaseCommand

from certificates.selectors import enrollments_missing_certificates
from certificates.services import certificate_issue
from certificates.tasks import generate_certificate as generate_certificate_task
from lms.commands import ProgressBar, existing_course_id
from lms.jobs.dispatch import dispatch_on_commit

# Enrollment ids fetched per round trip.
BATCH_SIZE = 500


class Command(BaseCommand):
    help = "Issue certificates for completed enrollments without one."

    def add_arguments(self, parser):
        parser.add_argument("--course", metavar="ID", help="only this course (UUID)")
        parser.add_argument("--dry-run", action="store_true", help="list what would be issued, change nothing")
        parser.add_argument("--async", dest="run_async", action="store_true", help="queue jobs instead of issuing here")

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
        issued = skipped = 0
        ids = list(missing.values_list("pk", flat=True).iterator(BATCH_SIZE))
        for enrollment_id in ProgressBar(ids, unit="certificate", disable=total < 2):
            if run_async:
                dispatch_on_commit(generate_certificate_task, str(enrollment_id))
                issued += 1
                continue
            outcome = certificate_issue(enrollment_id=enrollment_id)
            issued += outcome.created
            skipped += not outcome.created
        verb = "Queued" if run_async else "Issued"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {issued} certificate(s), skipped {skipped}, in {time.monotonic() - started:.1f}s."
            )
        )
