"""lms.jobs.stuck: STARTED jobs past their time limit whose worker is gone are re-queued once."""

import json
import uuid
from datetime import timedelta

import pytest
from celery import states
from celery.app.task import Context
from celery.utils.saferepr import saferepr
from django.utils import timezone
from django_celery_results.models import TaskResult

from enrollments.tasks import recalculate_course_progress
from lms.celery import app
from lms.jobs import stuck
from lms.jobs.results import REPR_MAX_CHARS, result_meta
from lms.jobs.stuck import stuck_jobs_sweep
from lms.tasks import dispatch_outbox
from tests.factories import CourseFactory

pytestmark = pytest.mark.django_db

GONE = "gone-worker@nowhere"
MARGIN = 60


def started_row(task, *args, minutes_ago: float, worker: str = GONE) -> str:
    """A STARTED row as a worker stores it (track_started), started `minutes_ago`."""
    task_id = str(uuid.uuid4())
    request = Context(
        id=task_id, task=task.name, args=list(args), kwargs={}, argsrepr=saferepr(args, REPR_MAX_CHARS),
        kwargsrepr="{}", hostname=worker,
    )  # fmt: skip
    app.backend.store_result(task_id, {"pid": 1, "hostname": worker}, states.STARTED, request=request)
    TaskResult.objects.filter(task_id=task_id).update(
        date_created=timezone.now() - timedelta(minutes=minutes_ago),
        date_started=timezone.now() - timedelta(minutes=minutes_ago),
    )
    return task_id


def sweep(django_capture_on_commit_callbacks, **kwargs) -> dict:
    with django_capture_on_commit_callbacks(execute=True):
        return stuck_jobs_sweep(margin_seconds=MARGIN, **kwargs)


def test_a_job_lost_with_its_worker_is_rerun_under_a_new_id_and_marked(django_capture_on_commit_callbacks):
    # given a recalculation STARTED 10 minutes ago (its hard limit is 5) on a worker that is gone
    course = CourseFactory()
    old_id = started_row(recalculate_course_progress, str(course.pk), minutes_ago=10)

    # when the sweep runs
    report = sweep(django_capture_on_commit_callbacks)

    # then the job ran again under a new id, and the old row says why, linking to it
    new_id = report["rerun"][old_id]
    assert json.loads(TaskResult.objects.get(task_id=new_id).result)["course_id"] == str(course.pk)
    old = TaskResult.objects.get(task_id=old_id)
    assert old.status == states.FAILURE
    meta = result_meta(old)
    assert meta["rerun_as"] == new_id
    assert meta["stuck"]["worker"] == GONE
    assert f"Worker lost: {GONE} no longer answers" in meta["stuck"]["reason"]
    assert f"re-run as {new_id}" in json.loads(old.result)["exc_message"][0]
    assert json.loads(old.result)["exc_type"] == "WorkerLostError"


def test_a_second_sweep_changes_nothing(django_capture_on_commit_callbacks):
    old_id = started_row(recalculate_course_progress, str(CourseFactory().pk), minutes_ago=10)
    first = sweep(django_capture_on_commit_callbacks)

    second = sweep(django_capture_on_commit_callbacks)

    assert list(first["rerun"]) == [old_id]
    assert second == {"examined": 0, "rerun": {}, "marked": [], "alive": []}
    assert TaskResult.objects.filter(task_name=recalculate_course_progress.name).count() == 2


def test_a_job_within_its_time_limit_and_margin_is_left_alone(django_capture_on_commit_callbacks):
    # 5 minutes limit + 1 minute margin: 5.5 minutes in, the job may still be running
    task_id = started_row(recalculate_course_progress, str(CourseFactory().pk), minutes_ago=5.5)

    report = sweep(django_capture_on_commit_callbacks)

    assert report["examined"] == 0
    assert TaskResult.objects.get(task_id=task_id).status == states.STARTED


def test_a_task_that_opts_out_is_only_marked_and_staff_are_told(
    django_capture_on_commit_callbacks, settings, mailoutbox
):
    # given a lost outbox sweep (rerun_when_stuck = False: the next tick does its work)
    settings.ADMINS = [("Ops", "ops@example.com")]
    assert dispatch_outbox.rerun_when_stuck is False
    task_id = started_row(dispatch_outbox, minutes_ago=10)

    report = sweep(django_capture_on_commit_callbacks)

    assert report["marked"] == [task_id] and report["rerun"] == {}
    row = TaskResult.objects.get(task_id=task_id)
    assert row.status == states.FAILURE
    assert "rerun_as" not in result_meta(row)
    assert "not re-run automatically" in result_meta(row)["stuck"]["reason"]
    assert TaskResult.objects.count() == 1
    assert [m.subject for m in mailoutbox] == [
        f"{settings.EMAIL_SUBJECT_PREFIX}Task lms.tasks.dispatch_outbox lost with its worker"
    ]


def test_a_job_its_worker_still_holds_is_left_alone(django_capture_on_commit_callbacks, monkeypatch):
    # given a worker that answers and lists the job as active
    task_id = started_row(recalculate_course_progress, str(CourseFactory().pk), minutes_ago=10, worker="alive@host")
    monkeypatch.setattr(stuck, "_jobs_held", lambda names: {"alive@host": {task_id}})

    report = sweep(django_capture_on_commit_callbacks)

    assert report["alive"] == [task_id]
    assert TaskResult.objects.get(task_id=task_id).status == states.STARTED


def test_a_worker_that_answers_without_the_job_lost_it(django_capture_on_commit_callbacks, monkeypatch):
    # given a worker restarted under the same name: it answers, but runs something else
    task_id = started_row(recalculate_course_progress, str(CourseFactory().pk), minutes_ago=10, worker="same@host")
    monkeypatch.setattr(stuck, "_jobs_held", lambda names: {"same@host": {"another-job"}})

    report = sweep(django_capture_on_commit_callbacks)

    assert task_id in report["rerun"]
    assert (
        "answers but no longer holds the job" in result_meta(TaskResult.objects.get(task_id=task_id))["stuck"]["reason"]
    )


def test_a_lost_job_whose_arguments_were_cut_is_marked_with_the_reason(django_capture_on_commit_callbacks):
    task_id = started_row(recalculate_course_progress, "x" * 5000, minutes_ago=10)

    report = sweep(django_capture_on_commit_callbacks)

    assert report["marked"] == [task_id]
    assert "not stored in full" in result_meta(TaskResult.objects.get(task_id=task_id))["stuck"]["reason"]


def test_the_sweep_task_is_scheduled_and_routed():
    from django.conf import settings

    from lms.services import DEFAULT_SCHEDULES

    assert any(d.task == "lms.tasks.sweep_stuck_jobs" for d in DEFAULT_SCHEDULES)
    assert settings.CELERY_TASK_ROUTES["lms.tasks.sweep_stuck_jobs"] == {"queue": "default"}
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] == settings.STUCK_JOB_MARGIN_SECONDS
