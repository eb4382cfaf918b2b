"""Recalculate learners' progress for one course or all of them."""

import time

from django.core.management.base import BaseCommand
from django.db import transaction

from courses.models import Course
from enrollments.services import course_progress_recalculate, course_progress_recalculate_many_later
from lms.commands import ProgressBar, existing_course_id

# Course ids fetched per round trip when walking every course; with --async, also the courses
# queued per batch (one outbox INSERT, one broker connection, one DELETE each).
COURSE_BATCH_SIZE = 500


class Command(BaseCommand):
    help = "Recalculate enrollment progress of one course (--course ID) or every course (--all)."

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--course", metavar="ID", help="id (UUID) of the course to recalculate")
        target.add_argument("--all", dest="all_courses", action="store_true", help="every course, in batches")
        parser.add_argument(
            "--async", dest="run_async", action="store_true", help="queue one job per course instead of running here"
        )

    def handle(self, *args, course: str | None, all_courses: bool, run_async: bool, **options):
        if course:
            course_ids = [existing_course_id(course)]
            total = 1
        else:
            course_ids = Course.objects.order_by("pk").values_list("pk", flat=True).iterator(COURSE_BATCH_SIZE)
            total = Course.objects.count()

        started = time.monotonic()
        changed = completed = reopened = courses = 0
        task_ids = []
        progress = ProgressBar(course_ids, total=total, unit="course", disable=total < 2)
        if run_async:
            batch = []
            for course_id in progress:
                batch.append(course_id)
                if len(batch) == COURSE_BATCH_SIZE:
                    task_ids += self._queue(batch)
                    batch = []
            task_ids += self._queue(batch)
            courses = len(task_ids)
        else:
            for course_id in progress:
                courses += 1
                result = course_progress_recalculate(course_id=course_id)
                changed += result.changed
                completed += len(result.newly_completed)
                reopened += result.reopened

        elapsed = time.monotonic() - started
        if run_async:
            self.stdout.write(self.style.SUCCESS(f"Queued {courses} recalculation job(s) in {elapsed:.1f}s."))
            if len(task_ids) == 1:
                self.stdout.write(f"Task id: {task_ids[0]}")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Recalculated {courses} course(s) in {elapsed:.1f}s: {changed} enrollment(s) changed, "
                f"{completed} newly completed, {reopened} reopened."
            )
        )

    @staticmethod
    def _queue(course_ids: list) -> list[str]:
        if not course_ids:
            return []
        with transaction.atomic():  # the batch's outbox rows commit together, then publish
            return course_progress_recalculate_many_later(course_ids=course_ids)
