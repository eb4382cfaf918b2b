"""An author saving 200 lessons one by one: one recalculation running and at most one queued per
course, never two at once, and the figures of a serial recompute at the end (real worker)."""

import json
import time
from datetime import datetime
from itertools import pairwise

import pytest
from django_celery_results.models import TaskResult

from courses.models import Lesson
from enrollments.tasks import recalculate_course_progress
from lms.models import QueuedSingleton
from tests.enrollments.test_progress import expected, stored
from tests.faults.data import learners_in_course
from tests.processes import queue_sizes

pytestmark = pytest.mark.integration

SAVES = 200
# The saves are spread over a few seconds, as an author's clicks (and the 10 s) would be.
PAUSE_SECONDS = 0.02
# "A handful": with one queued and one running, runs ≈ duration / (one run's time) + 2.
MAX_RUNS = 10


def test_200_lesson_saves_cost_a_handful_of_recalculations_that_never_overlap(live_worker):
    # given a course with learners part-way through it
    course, _ = learners_in_course(100, lessons_done=1, lessons=2)
    # the worker may run two jobs at once, so an overlap would show

    # when 200 lessons are saved, each in its own transaction (autocommit), within 10 s
    started = time.monotonic()
    queued_peak = 0
    for i in range(SAVES):
        Lesson.objects.create(course=course, title=f"Added {i}", position=3 + i)
        if i % 10 == 0:
            queued_peak = max(queued_peak, queue_sizes(("progress",))["progress"])
        time.sleep(PAUSE_SECONDS)
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"the saves took {elapsed:.1f}s"
    live_worker.wait_idle(timeout=120)

    # then only a handful of recalculations ran, one after another
    runs = [
        json.loads(row.result)
        for row in TaskResult.objects.filter(task_name=recalculate_course_progress.name, status="SUCCESS")
        if str(course.pk) in (row.task_args or "")
    ]
    print(f"{SAVES} lesson saves in {elapsed:.1f}s -> {len(runs)} recalculation run(s); queue peak {queued_peak}")
    assert 1 <= len(runs) <= MAX_RUNS
    assert queued_peak <= 1
    windows = sorted((datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in (r["locked"] for r in runs))
    for (_, previous_end), (next_start, _) in pairwise(windows):
        assert next_start >= previous_end, f"two recalculations overlapped: {windows}"
    # and the figures are those of a serial recompute, with nothing left queued
    assert stored(course) == expected(course)
    assert all(total == SAVES + 2 for _, _, total, _ in stored(course).values())
    assert not QueuedSingleton.objects.exists()
    assert TaskResult.objects.filter(task_name=recalculate_course_progress.name).exclude(status="SUCCESS").count() == 0
