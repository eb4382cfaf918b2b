"""lms.jobs.singleton: one job queued per key; the job frees the key as it starts."""

import pytest
from django.db import transaction

from courses.models import Lesson
from enrollments.services import course_progress_singleton_key
from lms.jobs.singleton import dispatch_singleton_on_commit, singleton_started
from lms.models import OutboxMessage, QueuedSingleton
from lms.tasks import dispatch_outbox
from lms.users.tasks import cleanup_expired_tokens
from tests.factories import CourseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _queued(settings):
    settings.TASKS_FORCE_INLINE = False  # jobs wait in the outbox; commit callbacks are only captured


def test_a_second_dispatch_of_a_queued_key_returns_the_queued_job(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = dispatch_singleton_on_commit(cleanup_expired_tokens, "k")
        second = dispatch_singleton_on_commit(cleanup_expired_tokens, "k")

    assert first == second
    assert OutboxMessage.objects.count() == 1 and len(callbacks) == 1
    assert QueuedSingleton.objects.get(key="k").task_id == first


def test_once_started_the_key_queues_the_next_job(django_capture_on_commit_callbacks):
    # (different arguments: within the test's one transaction the dispatcher folds equal jobs)
    with django_capture_on_commit_callbacks(execute=False):
        first = dispatch_singleton_on_commit(dispatch_outbox, "k", 1)
        singleton_started(key="k")
        second = dispatch_singleton_on_commit(dispatch_outbox, "k", 2)

    assert first != second
    assert OutboxMessage.objects.count() == 2


def test_a_rolled_back_change_leaves_no_key(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        try:
            with transaction.atomic():
                dispatch_singleton_on_commit(cleanup_expired_tokens, "k")
                raise RuntimeError("the change failed")
        except RuntimeError:
            pass

    assert not QueuedSingleton.objects.exists() and not OutboxMessage.objects.exists()


def test_a_stale_key_is_taken_over(django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    with django_capture_on_commit_callbacks(execute=False):
        lost = dispatch_singleton_on_commit(dispatch_outbox, "k", 1)
        QueuedSingleton.objects.filter(key="k").update(queued_at=timezone.now() - timedelta(days=1))
        taken = dispatch_singleton_on_commit(dispatch_outbox, "k", 2)

    assert taken != lost
    assert QueuedSingleton.objects.get(key="k").task_id == taken


def test_lessons_saved_in_separate_transactions_queue_one_recalculation(django_capture_on_commit_callbacks):
    # given a course; when five lessons are saved one by one, before any job starts
    course = CourseFactory()
    with django_capture_on_commit_callbacks(execute=False):
        for position in range(1, 6):
            with transaction.atomic():
                Lesson.objects.create(course=course, title=f"L{position}", position=position)

    # then one recalculation is queued for the course
    rows = OutboxMessage.objects.filter(task_name="enrollments.tasks.recalculate_course_progress")
    assert [row.args for row in rows] == [[str(course.pk)]]
    assert QueuedSingleton.objects.filter(key=course_progress_singleton_key(course.pk)).exists()


def test_started_waits_out_the_settle_time_so_a_burst_folds_into_the_job(django_capture_on_commit_callbacks):
    import time

    with django_capture_on_commit_callbacks(execute=False):
        dispatch_singleton_on_commit(cleanup_expired_tokens, "k")
    started = time.monotonic()

    singleton_started(key="k", settle_seconds=0.5)

    assert time.monotonic() - started >= 0.4
    assert not QueuedSingleton.objects.exists()
