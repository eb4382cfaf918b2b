"""Re-running failed jobs: POST /api/tasks/<id>/retry/, the admin action, `manage.py rerun_failed`."""

import json
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from celery import states
from celery.utils.saferepr import saferepr
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_celery_results.models import TaskResult

from courses.models import Course
from enrollments.tasks import recalculate_course_progress
from lms.celery import app
from lms.jobs.rerun import rerun_chain, task_result_rerun
from lms.jobs.results import REPR_MAX_CHARS, result_meta
from lms.models import OutboxMessage
from lms.users.tasks import cleanup_expired_tokens
from tests.factories import CourseFactory

pytestmark = pytest.mark.django_db


def stored_failure(task, *args, **kwargs) -> str:
    """A FAILURE row stored the way a worker stores it: through django-celery-results' backend,
    with the message's argsrepr/kwargsrepr (Python reprs) as the arguments."""
    from celery.app.task import Context

    task_id = str(uuid.uuid4())
    request = Context(
        id=task_id, task=task.name, args=list(args), kwargs=kwargs, argsrepr=saferepr(args, REPR_MAX_CHARS),
        kwargsrepr=saferepr(kwargs, REPR_MAX_CHARS), hostname="worker@gone", delivery_info={"routing_key": "progress"},
    )  # fmt: skip
    app.backend.mark_as_failure(task_id, RuntimeError("database went away"), request=request)
    return task_id


def url(task_id: str) -> str:
    return f"/api/tasks/{task_id}/retry/"


@pytest.fixture
def retry(staff_client, django_capture_on_commit_callbacks):
    """POST the retry as staff and run what it queued (inline, after commit)."""

    def post(task_id: str):
        with django_capture_on_commit_callbacks(execute=True):
            return staff_client.post(url(task_id))

    return post


def test_retry_needs_staff(api_client, learner_client):
    assert api_client.post(url(str(uuid.uuid4()))).status_code == 401
    assert learner_client.post(url(str(uuid.uuid4()))).status_code == 403


def test_retry_of_an_unknown_id_is_404(retry):
    response = retry(str(uuid.uuid4()))

    assert response.status_code == 404
    assert "No stored result" in response.json()["detail"]


def test_retry_of_a_job_that_did_not_fail_is_409(retry):
    task_id = cleanup_expired_tokens.apply().id

    response = retry(task_id)

    assert response.status_code == 409
    assert "SUCCESS" in response.json()["detail"]


def test_retry_reruns_with_the_stored_name_and_arguments_under_a_new_id(retry):
    # given a recalculation that failed on a worker
    course = CourseFactory()
    old_id = stored_failure(recalculate_course_progress, str(course.pk))

    # when staff re-run it
    response = retry(old_id)

    # then it ran again (inline in tests) with the same course, under a new id linked from the old row
    assert response.status_code == 202
    body = response.json()
    new_id = body["task_id"]
    assert new_id != old_id
    assert body["status_url"].endswith(f"/api/tasks/{new_id}/")
    new = TaskResult.objects.get(task_id=new_id)
    assert new.status == states.SUCCESS
    assert json.loads(new.result)["course_id"] == str(course.pk)
    old = TaskResult.objects.get(task_id=old_id)
    assert old.status == states.FAILURE and "database went away" in old.result  # history kept
    assert result_meta(old)["rerun_as"] == new_id


def test_retry_twice_is_409_naming_the_first_rerun(retry):
    old_id = stored_failure(recalculate_course_progress, str(CourseFactory().pk))
    first = retry(old_id).json()["task_id"]

    response = retry(old_id)

    assert response.status_code == 409
    assert first in response.json()["detail"]
    assert TaskResult.objects.filter(task_name=recalculate_course_progress.name).count() == 2


def test_retry_of_a_rerun_keeps_the_chain(retry, settings):
    settings.ADMINS = []
    # given a job that fails every time (a wrong argument)
    first = cleanup_expired_tokens.apply(args=["unexpected"]).id

    # when it is re-run, and its re-run is re-run
    second = retry(first).json()["task_id"]
    third = retry(second).json()["task_id"]

    # then each row points at the next, and the chain reads the same from any link
    assert TaskResult.objects.get(task_id=third).status == states.FAILURE
    assert result_meta(TaskResult.objects.get(task_id=first))["rerun_as"] == second
    assert result_meta(TaskResult.objects.get(task_id=second))["rerun_as"] == third
    assert rerun_chain(task_id=second) == [first, second, third]
    assert rerun_chain(task_id=third) == [first, second, third]


def test_retry_goes_through_the_outbox_in_the_transaction_that_links_it(settings, django_capture_on_commit_callbacks):
    # given a broker in use (nothing is published: the commit callbacks are only captured)
    settings.TASKS_FORCE_INLINE = False
    course = CourseFactory()
    old_id = stored_failure(
        recalculate_course_progress,
        str(course.pk),
    )

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        new_id = task_result_rerun(task_id=old_id)

    # then the job waits in the outbox with its arguments, and is published only after commit
    row = OutboxMessage.objects.get(pk=new_id)
    assert (row.task_name, row.args, row.kwargs) == (recalculate_course_progress.name, [str(course.pk)], {})
    assert len(callbacks) == 1
    assert result_meta(TaskResult.objects.get(task_id=old_id))["rerun_as"] == new_id


def test_retry_of_arguments_cut_by_celery_is_409(retry):
    # given a failure whose argsrepr was cut at Celery's 1024 characters
    old_id = stored_failure(recalculate_course_progress, "x" * 5000)

    response = retry(old_id)

    assert response.status_code == 409
    assert "not stored in full" in response.json()["detail"]
    assert "rerun_as" not in result_meta(TaskResult.objects.get(task_id=old_id))


def test_retry_keeps_keyword_arguments(retry):
    from certificates.tasks import generate_certificate

    old_id = stored_failure(generate_certificate, str(uuid.uuid4()), regenerate=True)

    new_id = retry(old_id).json()["task_id"]

    new = TaskResult.objects.get(task_id=new_id)
    assert new.status == states.SUCCESS
    assert json.loads(new.result)["skipped"] == "enrollment no longer exists"


def test_admin_action_reruns_selected_failed_jobs_and_names_the_new_ids(
    client, staff, django_capture_on_commit_callbacks
):
    # given a failed and a succeeded job
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    failed = stored_failure(recalculate_course_progress, str(CourseFactory().pk))
    succeeded = cleanup_expired_tokens.apply().id

    # when staff pick both and run the action
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(
            "/admin/django_celery_results/taskresult/",
            {"action": "rerun_failed", "_selected_action": [str(r.pk) for r in TaskResult.objects.all()]},
            follow=True,
        )

    # then the failed one is re-run, its new id in the message; the other is refused with a reason
    html = page.content.decode()
    new_id = result_meta(TaskResult.objects.get(task_id=failed))["rerun_as"]
    assert f"Re-ran 1 failed job(s) under new ids: {failed} -&gt; {new_id}" in html
    assert f"Not re-run: {succeeded}" in html
    assert TaskResult.objects.get(task_id=new_id).status == states.SUCCESS


def test_rerun_failed_command_dry_run_changes_nothing():
    old_id = stored_failure(recalculate_course_progress, str(CourseFactory().pk))
    out = StringIO()

    call_command("rerun_failed", "--dry-run", stdout=out)

    assert f"would re-run: {recalculate_course_progress.name} {old_id}" in out.getvalue()
    assert "Dry run: 1 failed job(s) would be re-run." in out.getvalue()
    assert TaskResult.objects.count() == 1


def test_rerun_failed_command_filters_by_task_and_time_and_skips_rerun_rows(django_capture_on_commit_callbacks):
    # given two old failures of two tasks, one recent failure, and one failure already re-run
    course_id = str(CourseFactory().pk)
    old = stored_failure(recalculate_course_progress, course_id)
    other_task = stored_failure(cleanup_expired_tokens)
    recent = stored_failure(recalculate_course_progress, course_id)
    TaskResult.objects.filter(task_id__in=[old, other_task]).update(date_done=timezone.now() - timedelta(days=2))
    done = stored_failure(recalculate_course_progress, course_id)
    task_result_rerun(task_id=done)
    out = StringIO()

    since = (timezone.now() - timedelta(hours=1)).isoformat()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("rerun_failed", "--task", recalculate_course_progress.name, "--since", since, stdout=out)

    # then only the recent one of that task was re-run
    assert f"{recent} -> " in out.getvalue()
    assert "Re-ran 1 failed job(s), refused 0" in out.getvalue()
    assert "rerun_as" in result_meta(TaskResult.objects.get(task_id=recent))
    assert "rerun_as" not in result_meta(TaskResult.objects.get(task_id=old))
    assert "rerun_as" not in result_meta(TaskResult.objects.get(task_id=other_task))


def test_rerun_failed_command_refuses_a_naive_or_bad_since():
    with pytest.raises(CommandError, match="ISO date-time with a timezone"):
        call_command("rerun_failed", "--since", "yesterday")
    with pytest.raises(CommandError, match="ISO date-time with a timezone"):
        call_command("rerun_failed", "--since", "2026-05-01T00:00:00")


def test_rerun_of_a_course_deleted_meanwhile_just_reports_it(retry):
    course = CourseFactory()
    old_id = stored_failure(recalculate_course_progress, str(course.pk))
    Course.objects.filter(pk=course.pk).delete()

    new_id = retry(old_id).json()["task_id"]

    assert json.loads(TaskResult.objects.get(task_id=new_id).result)["missing"] is True
