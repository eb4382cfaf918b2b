"""lms.jobs.progress: throttled {done, total} reports, answered by the API and drawn in admin."""

import json
import uuid

import pytest
from celery import states
from django_celery_results.models import TaskResult

from lms.jobs.progress import job_progress, job_progress_forget
from lms.jobs.results import result_meta

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttle():
    job_progress_forget()
    yield
    job_progress_forget()


def running_row(**meta) -> str:
    task_id = str(uuid.uuid4())
    TaskResult.objects.create(
        task_id=task_id, task_name="certificates.tasks.issue_course_certificates", status=states.STARTED,
        meta=json.dumps({"children": [], **meta}),
    )  # fmt: skip
    return task_id


def test_job_progress_writes_the_first_and_last_report_and_throttles_the_rest():
    # given a running job
    task_id = running_row(queue="certificates")

    # when it reports after each of 1000 items within a second
    written = [job_progress(done=done, total=1000, task_id=task_id) for done in range(1, 1001)]

    # then the first and the last reached the row, nothing in between
    assert written.count(True) == 2
    assert written[0] and written[-1]
    meta = result_meta(TaskResult.objects.get(task_id=task_id))
    assert meta["progress"] == {"done": 1000, "total": 1000}
    assert meta["queue"] == "certificates"  # the rest of the meta is kept


def test_job_progress_force_writes_now():
    task_id = running_row()
    job_progress(done=1, total=10, task_id=task_id)

    assert job_progress(done=2, total=10, task_id=task_id, force=True)

    assert result_meta(TaskResult.objects.get(task_id=task_id))["progress"] == {"done": 2, "total": 10}


def test_job_progress_outside_a_task_does_nothing():
    assert job_progress(done=1, total=2) is False
    assert not TaskResult.objects.exists()


def test_job_progress_of_a_job_run_in_process_does_nothing():
    from celery import Celery

    # given a task run inline (task.apply), where nobody can poll it while it runs (on an app of
    # its own, so the project's registry stays as it is)
    probe = Celery("progress-probe", set_as_current=False)

    @probe.task(name="probe.report", shared=False)
    def report():
        return job_progress(done=1, total=2, force=True)

    # then reporting writes nothing
    assert report.apply().get() is False
    assert not TaskResult.objects.exists()


def test_task_status_shows_progress_while_the_job_runs(staff_client):
    task_id = running_row()
    job_progress(done=3, total=7, task_id=task_id)

    body = staff_client.get(f"/api/tasks/{task_id}/").json()

    assert body["status"] == states.STARTED
    assert body["progress"] == {"done": 3, "total": 7}


def test_task_status_hides_progress_once_the_job_finished(staff_client):
    task_id = running_row(progress={"done": 7, "total": 7})
    TaskResult.objects.filter(task_id=task_id).update(status=states.SUCCESS)

    assert staff_client.get(f"/api/tasks/{task_id}/").json()["progress"] is None


def test_admin_task_results_draw_a_progress_bar(client, staff):
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    running_row(progress={"done": 25, "total": 100})

    html = client.get("/admin/django_celery_results/taskresult/").content.decode()

    assert '<progress value="25" max="100" title="25 of 100">25%</progress> 25 / 100' in html
