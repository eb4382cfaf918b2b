"""manage.py run_task --async on real processes: the job goes through the broker to a worker."""

from io import StringIO

import pytest
from django.core.management import call_command
from django_celery_results.models import TaskResult

from tests.processes import wait_for

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("queue_args", [(), ("--queue", "emails")])
def test_run_task_async_sends_the_job_to_a_worker(live_worker, queue_args):
    out = StringIO()

    call_command("run_task", "lms.users.tasks.cleanup_expired_tokens", "--async", *queue_args, stdout=out)

    task_id = out.getvalue().strip()
    result = wait_for(
        lambda: TaskResult.objects.filter(task_id=task_id, status="SUCCESS").first(),
        what="the worker to run the job",
    )
    assert result.worker == live_worker.name
