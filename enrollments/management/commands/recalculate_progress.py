"""Recalculate learners' progress for one course or all of them."""

import time

from django.core.management.base import BaseCommand
from django.db import transaction

from courses.models import Course
from enrollments.services import course_progress_recalculate, course_progress_recalculate_later
from enrollments.tasks import recalculate_all_progress as recalculate_all_progress_task
from lms.commands import ProgressBar, existing_course_id
from lms.jobs.dispatch import dispatch_on_commit

# Course ids fetched per round trip when walking every course.
COURSE_BATCH_SIZE = 500


class Command(BaseCommand):
    help = "Recalculate enrollment progress of one course (--course ID) or every course (--all)."

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--course", metavar="ID", help="id (UUID) of the course to recalculate")
        target.add_argument("--all", dest="all_courses", action="store_true", help="every course, in batches")
        parser.add_argument(
            "--async", dest="run_async", action="store_true", help="queue one job (it reports progress) instead"
        )

    def handle(self, *args, course: str | None, all_courses: bool, run_async: bool, **options):
        if course:
            course_ids = [existing_course_id(course)]
            total = 1
        else:
            course_ids = Course.objects.order_by("pk").values_list("pk", flat=True).iterator(COURSE_BATCH_SIZE)
            total = Course.objects.count()

        started = time.monotonic()
        if run_async:
            # One job with one id, whatever the number of courses: it reports {done, total}
            # courses while it runs (GET /api/tasks/<id>/; DESIGN.md, "a long job that spans many
            # items"); a single course is the per-course job, kept to one queued at a time.
            with transaction.atomic():
                if course:
                    task_id = course_progress_recalculate_later(course_id=course_ids[0])
                else:
                    task_id = dispatch_on_commit(recalculate_all_progress_task)
            self.stdout.write(self.style.SUCCESS(f"Queued one job recalculating {total} course(s)."))
            self.stdout.write(f"Task id: {task_id}")
            return
        changed = completed = reopened = courses = 0
        for course_id in ProgressBar(course_ids, total=total, unit="course", disable=total < 2):
            courses += 1
            result = course_progress_recalculate(course_id=course_id)
            changed += result.changed
            completed += len(result.newly_completed)
            reopened += result.reopened

        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Recalculated {courses} course(s) in {elapsed:.1f}s: {changed} enrollment(s) changed, "
                f"{completed} newly completed, {reopened} reopened."
            )
        )
