"""manage.py run_task: any registered task, once, here (default) or through the broker (--async)."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_celery_results.models import TaskResult

from notifications.models import Notification

pytestmark = pytest.mark.django_db

TOKENS_TASK = "lms.users.tasks.cleanup_expired_tokens"


def run_task(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("run_task", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_run_task_runs_here_and_prints_the_result():
    out, _ = run_task(TOKENS_TASK)

    summary = out[: out.rindex("}") + 1]
    assert json.loads(summary) == {"tokens_deleted": 0, "blacklist_entries_deleted": 0}
    assert f"Task {TOKENS_TASK} ran here as" in out and "SUCCESS" in out
    assert TaskResult.objects.get(task_name=TOKENS_TASK).status == "SUCCESS"


def test_run_task_passes_json_args(learner):
    Notification.objects.all().delete()

    out, _ = run_task("notifications.tasks.send_welcome_email", "--args", json.dumps([str(learner.pk)]))

    assert out.startswith('"sent"')
    assert Notification.objects.get(user=learner).status == "sent"


def test_run_task_passes_json_kwargs(learner):
    Notification.objects.all().delete()

    out, _ = run_task("notifications.tasks.send_welcome_email", "--kwargs", json.dumps({"user_id": str(learner.pk)}))

    assert out.startswith('"sent"')


def test_run_task_reports_a_failure_as_an_error():
    with pytest.raises(CommandError, match=rf"Task {TOKENS_TASK} \(.*\) failed: TypeError"):
        run_task(TOKENS_TASK, "--args", '["unexpected"]')


def test_run_task_async_without_a_broker_runs_here_and_says_so(settings, django_capture_on_commit_callbacks):
    settings.TASKS_FORCE_INLINE = True

    # (the test's transaction stands in for the commit a command outside one does not wait for)
    with django_capture_on_commit_callbacks(execute=True):
        out, err = run_task(TOKENS_TASK, "--async")

    task_id = out.strip()
    assert TaskResult.objects.get(task_id=task_id).status == "SUCCESS"
    assert "ran in this process" in err


def test_run_task_unknown_name_lists_the_registered_tasks_and_suggests_one():
    with pytest.raises(CommandError) as exc:
        run_task("lms.users.tasks.cleanup_expired_token")

    message = str(exc.value)
    assert "Unknown task 'lms.users.tasks.cleanup_expired_token'" in message
    assert f"Did you mean: {TOKENS_TASK}" in message
    assert "notifications.tasks.send_welcome_email" in message


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--args", "[1,", "--args is not valid JSON"),
        ("--args", '{"a": 1}', "--args must be a JSON list"),
        ("--kwargs", "not json", "--kwargs is not valid JSON"),
        ("--kwargs", "[1]", "--kwargs must be a JSON dict"),
    ],
)
def test_run_task_bad_json_says_what_to_give(option, value, expected):
    with pytest.raises(CommandError, match=expected):
        run_task(TOKENS_TASK, option, value)


def test_run_task_unknown_queue_lists_the_declared_queues():
    declared = "bulk, certificates, default, emails, progress"
    with pytest.raises(CommandError, match=rf"Unknown queue 'reports'\. Declared queues: {declared}"):
        run_task(TOKENS_TASK, "--async", "--queue", "reports")


def test_run_task_queue_needs_async():
    with pytest.raises(CommandError, match="--queue only applies with --async"):
        run_task(TOKENS_TASK, "--queue", "default")


def test_run_task_queue_needs_a_broker(settings):
    settings.TASKS_FORCE_INLINE = True

    with pytest.raises(CommandError, match="--queue needs a broker"):
        run_task(TOKENS_TASK, "--async", "--queue", "default")
