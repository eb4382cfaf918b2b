"""manage.py monthly_archive: --dry-run counts, an inline run archives with a progress bar,
--async queues the task; bad months and a held lock are refused with what to do."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django_celery_results.models import TaskResult

from notifications.models import Notification
from tests.factories import UserFactory, notification_created_at, task_result_done_at

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 0, 0, 30, tzinfo=UTC)  # the run for May 2026
CUTOFF = datetime(2026, 3, 3, tzinfo=UTC)  # 90 days before the end of May


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("monthly_archive", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def old_rows():
    """Three notifications and one task result older than May's cutoff, one notification newer."""
    user = UserFactory()
    Notification.objects.all().delete()
    for days in (1, 2, 3):
        notification_created_at(user, CUTOFF - timedelta(days=days))
    notification_created_at(user, CUTOFF + timedelta(days=1))
    task_result_done_at(CUTOFF - timedelta(days=1))


def test_monthly_archive_dry_run_counts_and_changes_nothing(old_rows):
    out, _ = run("--dry-run")

    assert (
        "Dry run for 2026-05 (cutoff 2026-03-03T00:00:00+00:00): would archive and delete 3 notification(s) "
        "and 1 task result(s) into archive/2026-05/."
    ) in out
    assert "Nothing was changed." in out
    assert Notification.objects.count() == 4 and TaskResult.objects.count() == 1
    assert not default_storage.exists("archive")


def test_monthly_archive_archives_inline_with_a_progress_bar_and_a_summary(old_rows, capsys):
    out, _ = run("--month", "2026-05")

    assert (
        "Archived 2026-05 (cutoff 2026-03-03T00:00:00+00:00): 3 notification(s) and 1 task result(s) deleted, "
        "2 new file(s) in archive/2026-05/."
    ) in out
    assert "4/4" in capsys.readouterr().err
    assert Notification.objects.count() == 1 and not TaskResult.objects.exists()


def test_monthly_archive_run_twice_archives_once(old_rows):
    run()
    out, _ = run()

    assert "0 notification(s) and 0 task result(s) deleted, 0 new file(s)" in out
    assert len(default_storage.listdir("archive/2026-05")[1]) == 3  # two parts and the manifest


def test_monthly_archive_async_prints_the_task_id(old_rows, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        out, err = run("--async", "--month", "2026-04")

    result = TaskResult.objects.get(task_id=out.strip())
    assert (result.task_name, result.status) == ("enrollments.tasks.monthly_archive", "SUCCESS")
    assert '"2026-04"' in result.task_args
    assert "ran in this process" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--month", "2026-13"), r"--month: A month is written YYYY-MM, e\.g\. 2026-05; got '2026-13'"),
        (("--month", "May"), r"--month: A month is written YYYY-MM"),
        (("--month", "2026-06"), r"The month 2026-06 has not ended yet; archive a month that has, e\.g\. 2026-05"),
        (("--dry-run", "--async"), r"--dry-run runs here and changes nothing; leave out --async"),
    ],
)
def test_monthly_archive_bad_arguments_say_what_to_do(old_rows, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert Notification.objects.count() == 4


def test_monthly_archive_refuses_while_another_run_holds_the_lock(old_rows, archive_lock_held_elsewhere):
    with pytest.raises(CommandError, match="Another archive run is in progress"):
        run()
    assert Notification.objects.count() == 4
