"""The monthly archive: old notifications and task results written to gzip JSON-lines parts in
storage, then deleted; exactly once, whatever crashes in between. Time is frozen: the run for
May 2026 happens on 1 June, and its cutoff is 90 days before the end of May, 3 March."""

import gzip
import json
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django_celery_results.models import TaskResult

from enrollments.tasks import monthly_archive
from lms import archive
from lms.errors import Conflict, InvalidInput
from notifications.models import Notification
from tests.factories import UserFactory, notification_created_at, task_result_done_at

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 0, 0, 30, tzinfo=UTC)
MAY = date(2026, 5, 1)
CUTOFF = datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
FOLDER = "archive/2026-05"


class SimulatedCrash(Exception):
    """Stands in for the process dying at a chosen point."""


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def user():
    user = UserFactory()
    Notification.objects.all().delete()  # its welcome e-mails are not under test
    return user


@pytest.fixture
def rows(user):
    """Five notifications and two task results older than the cutoff; one of each at the cutoff
    and one of each in May, which stay."""
    old = [CUTOFF - timedelta(days=days) for days in (60, 30, 1)] + [CUTOFF - timedelta(microseconds=1)] * 2
    may = datetime(2026, 5, 20, tzinfo=UTC)
    return {
        "old_notifications": [notification_created_at(user, moment) for moment in old],
        "old_task_results": [task_result_done_at(CUTOFF - timedelta(days=d)) for d in (40, 1)],
        "kept_notifications": [notification_created_at(user, CUTOFF), notification_created_at(user, may)],
        "kept_task_results": [task_result_done_at(CUTOFF), task_result_done_at(may)],
    }


def parts(folder: str = FOLDER) -> list[str]:
    return sorted(f for f in default_storage.listdir(folder)[1] if f.endswith(".jsonl.gz"))


def archived(source: str, folder: str = FOLDER) -> list[dict]:
    """Every line of every part of `source` in the folder, in part order."""
    lines = []
    for name in parts(folder):
        if name.startswith(f"{source}-part-"):
            with default_storage.open(f"{folder}/{name}", "rb") as file:
                lines += [json.loads(line) for line in gzip.decompress(file.read()).decode().splitlines()]
    return lines


def pks(records) -> list[str]:
    return sorted(str(r["pk"]) if isinstance(r, dict) else str(r.pk) for r in records)


def manifest(folder: str = FOLDER) -> dict:
    with default_storage.open(f"{folder}/manifest.json", "rb") as file:
        return json.loads(file.read())


def assert_archived_exactly_once_and_deleted(rows):
    assert pks(archived("notifications")) == pks(rows["old_notifications"])  # sorted: duplicates would show
    assert pks(archived("task_results")) == pks(rows["old_task_results"])
    assert set(Notification.objects.values_list("pk", flat=True)) == {n.pk for n in rows["kept_notifications"]}
    left = TaskResult.objects.exclude(task_name=monthly_archive.name)  # the task's own results are new
    assert set(left.values_list("pk", flat=True)) == {t.pk for t in rows["kept_task_results"]}


# --- months and cutoffs --------------------------------------------------------------------


def test_archive_cutoff_is_the_retention_period_before_the_end_of_the_month(settings):
    assert archive.archive_cutoff(month=MAY) == CUTOFF
    settings.ARCHIVE_RETENTION_DAYS = 30
    assert archive.archive_cutoff(month=MAY) == datetime(2026, 5, 2, tzinfo=UTC)
    assert archive.archive_cutoff(month=date(2025, 12, 1)) == datetime(2025, 12, 2, tzinfo=UTC)


def test_archive_cutoff_refuses_a_month_that_has_not_ended():
    with pytest.raises(InvalidInput, match=r"The month 2026-06 has not ended yet.*e\.g\. 2026-05"):
        archive.archive_cutoff(month=date(2026, 6, 1))


@pytest.mark.parametrize("value", ["2026-13", "2026-5", "May 2026", "2026-05-01", ""])
def test_month_parse_says_what_to_give(value):
    with pytest.raises(ValueError, match="YYYY-MM"):
        archive.month_parse(value)


def test_month_previous_is_the_month_that_just_ended():
    assert archive.month_previous(NOW) == MAY
    assert archive.month_previous(datetime(2026, 1, 15, tzinfo=UTC)) == date(2025, 12, 1)


# --- a run ---------------------------------------------------------------------------------


def test_archive_run_writes_old_rows_once_and_deletes_them(rows):
    summary = archive.archive_run(month=MAY)

    assert_archived_exactly_once_and_deleted(rows)
    assert summary == {
        "month": "2026-05",
        "cutoff": CUTOFF.isoformat(),
        "notifications_archived": 5,
        "task_results_archived": 2,
        "files": [f"{FOLDER}/notifications-part-0001.jsonl.gz", f"{FOLDER}/task_results-part-0001.jsonl.gz"],
        "recovered_files": [],
        "more": False,
    }


def test_archived_lines_hold_every_field_with_full_iso_datetimes(rows):
    notification = rows["old_notifications"][3]  # created one microsecond before the cutoff

    archive.archive_run(month=MAY)

    line = next(r for r in archived("notifications") if r["pk"] == str(notification.pk))
    assert line["model"] == "notifications.notification"
    assert set(line["fields"]) == {f.name for f in Notification._meta.concrete_fields} - {"id"}
    assert line["fields"]["created_at"] == "2026-03-02T23:59:59.999999+00:00"
    assert line["fields"]["subject"] == notification.subject
    assert line["fields"]["user"] == str(notification.user_id)
    result = archived("task_results")[0]
    assert result["model"] == "django_celery_results.taskresult"
    assert result["fields"]["task_name"] == "lms.tasks.dispatch_outbox"


def test_archived_parts_restore_with_loaddata(rows):
    before = {n.pk: (n.subject, n.dedupe_key, n.created_at) for n in rows["old_notifications"]}
    archive.archive_run(month=MAY)

    call_command("loaddata", default_storage.path(f"{FOLDER}/notifications-part-0001.jsonl.gz"), verbosity=0)

    restored = Notification.objects.filter(pk__in=before)
    assert {n.pk: (n.subject, n.dedupe_key, n.created_at) for n in restored} == before


def test_archive_run_writes_a_part_per_batch_and_lists_them_in_the_manifest(rows):
    batches = []

    archive.archive_run(month=MAY, batch_size=2, on_batch=batches.append)

    assert batches == [2, 2, 1, 2]
    assert parts() == [
        "notifications-part-0001.jsonl.gz",
        "notifications-part-0002.jsonl.gz",
        "notifications-part-0003.jsonl.gz",
        "task_results-part-0001.jsonl.gz",
    ]
    listed = manifest()
    assert (listed["month"], listed["cutoff"]) == ("2026-05", CUTOFF.isoformat())
    assert [entry["rows"] for entry in listed["parts"].values()] == [2, 2, 1, 2]
    assert_archived_exactly_once_and_deleted(rows)


def test_archive_run_stops_after_max_batches_and_says_more_remains(rows):
    first = archive.archive_run(month=MAY, batch_size=2, max_batches=2)
    second = archive.archive_run(month=MAY, batch_size=2, max_batches=2)

    assert (first["notifications_archived"], first["more"]) == (4, True)
    assert (second["notifications_archived"], second["task_results_archived"], second["more"]) == (1, 2, False)
    assert_archived_exactly_once_and_deleted(rows)


def test_archive_run_follows_the_retention_setting(rows, settings):
    settings.ARCHIVE_RETENTION_DAYS = 1

    summary = archive.archive_run(month=MAY)

    assert (summary["notifications_archived"], summary["task_results_archived"]) == (7, 4)
    assert not Notification.objects.exists() and not TaskResult.objects.exists()


def test_archive_run_with_nothing_old_writes_nothing(user):
    notification_created_at(user, datetime(2026, 5, 20, tzinfo=UTC))

    summary = archive.archive_run(month=MAY)

    assert (summary["notifications_archived"], summary["files"]) == (0, [])
    assert Notification.objects.count() == 1


# --- crashes -------------------------------------------------------------------------------


def crash_on_call(monkeypatch, function_name: str, *, call: int, before=None):
    """Make lms.archive.<function_name> raise SimulatedCrash on its `call`-th call (1-based),
    after running `before(*args)` if given; other calls run normally."""
    real = getattr(archive, function_name)
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            if before:
                before(*args, **kwargs)
            raise SimulatedCrash(f"{function_name} call {call}")
        return real(*args, **kwargs)

    monkeypatch.setattr(archive, function_name, wrapper)


def test_a_crash_between_write_and_delete_loses_nothing_and_a_rerun_duplicates_nothing(rows, monkeypatch):
    # given a run that dies after writing its second part, before deleting that part's rows
    crash_on_call(monkeypatch, "_delete_archived", call=2)
    with pytest.raises(SimulatedCrash):
        archive.archive_run(month=MAY, batch_size=2)
    written = archived("notifications")
    assert len(written) == 4  # parts 1 and 2 are on disk...
    assert Notification.objects.filter(pk__in=pks(rows["old_notifications"])).count() == 3  # ...part 2's rows too
    assert list(manifest()["parts"]) == ["notifications-part-0001.jsonl.gz"]
    monkeypatch.undo()

    # when the month is archived again
    summary = archive.archive_run(month=MAY, batch_size=2)

    # then part 2 was settled, not rewritten, and every old row is archived exactly once
    assert summary["recovered_files"] == [f"{FOLDER}/notifications-part-0002.jsonl.gz"]
    assert summary["files"] == [
        f"{FOLDER}/notifications-part-0003.jsonl.gz",
        f"{FOLDER}/task_results-part-0001.jsonl.gz",
    ]
    assert (summary["notifications_archived"], summary["task_results_archived"]) == (3, 2)
    assert archived("notifications")[:4] == written  # nothing an earlier run wrote was touched
    assert_archived_exactly_once_and_deleted(rows)
    assert len(manifest()["parts"]) == 4


def test_a_part_left_behind_is_settled_even_when_its_rows_changed_meanwhile(rows, user, monkeypatch):
    # given a crash after writing part 1 (2 rows), then one of its rows deleted by other means
    # and a new old row arriving: the next batches would no longer line up with part 1
    crash_on_call(monkeypatch, "_delete_archived", call=1)
    with pytest.raises(SimulatedCrash):
        archive.archive_run(month=MAY, batch_size=2)
    monkeypatch.undo()
    first_part = archived("notifications")
    Notification.objects.filter(pk=first_part[0]["pk"]).delete()
    late = notification_created_at(user, CUTOFF - timedelta(days=100))
    rows["old_notifications"].append(late)

    # when
    archive.archive_run(month=MAY, batch_size=2)

    # then every old row is in exactly one part (the deleted one in part 1, as it was)
    assert_archived_exactly_once_and_deleted(rows)


def test_a_part_left_by_an_earlier_months_run_is_settled_before_the_next_month_archives(rows, monkeypatch):
    # given April's run died between writing its only part and deleting its rows
    crash_on_call(monkeypatch, "_delete_archived", call=1)
    with pytest.raises(SimulatedCrash):
        archive.archive_run(month=date(2026, 4, 1))
    monkeypatch.undo()
    april = archived("notifications", "archive/2026-04")
    assert april

    # when May is archived (its cutoff is later, so it would select April's rows again)
    archive.archive_run(month=MAY)

    # then April's part was settled and May holds only what April does not
    may = archived("notifications")
    assert not set(pks(april)) & set(pks(may))
    assert sorted(pks(april) + pks(may)) == pks(rows["old_notifications"])
    assert "notifications-part-0001.jsonl.gz" in manifest("archive/2026-04")["parts"]


def test_a_part_torn_by_a_crash_mid_write_is_set_aside_and_its_rows_archived_again(rows, monkeypatch):
    # given a run that died while writing its first part: half a gzip file on disk
    def write_half(name, content):
        default_storage.save(name, ContentFile(content[: len(content) // 2]))

    crash_on_call(monkeypatch, "_write_new_file", call=1, before=write_half)
    with pytest.raises(SimulatedCrash):
        archive.archive_run(month=MAY)
    monkeypatch.undo()

    # when
    summary = archive.archive_run(month=MAY)

    # then the torn file is kept aside, and the rows are in a new, complete part
    files = default_storage.listdir(FOLDER)[1]
    assert "notifications-part-0001.jsonl.gz.incomplete" in files
    assert summary["files"][0] == f"{FOLDER}/notifications-part-0002.jsonl.gz"
    assert summary["recovered_files"] == []
    assert_archived_exactly_once_and_deleted(rows)


def test_a_lost_manifest_costs_a_reread_and_deletes_nothing_more(rows):
    archive.archive_run(month=MAY)
    default_storage.delete(f"{FOLDER}/manifest.json")
    newer = Notification.objects.count()

    summary = archive.archive_run(month=MAY)

    assert summary["notifications_archived"] == 0 and len(summary["recovered_files"]) == 2
    assert Notification.objects.count() == newer
    assert len(manifest()["parts"]) == 2


# --- one run at a time ---------------------------------------------------------------------


def test_archive_run_refuses_while_another_run_holds_the_lock(rows, archive_lock_held_elsewhere):
    with pytest.raises(Conflict, match="Another archive run is in progress"):
        archive.archive_run(month=MAY)

    assert Notification.objects.count() == 7
    assert not default_storage.exists(FOLDER)


def test_monthly_archive_task_skips_while_another_run_holds_the_lock(rows, archive_lock_held_elsewhere):
    result = monthly_archive.apply().get()

    assert (set(result), result["month"]) == ({"month", "skipped"}, "2026-05")
    assert "Another archive run is in progress" in result["skipped"]
    assert Notification.objects.count() == 7


def test_archive_run_releases_the_lock_after_a_crash(rows, monkeypatch):
    crash_on_call(monkeypatch, "_delete_archived", call=1)
    with pytest.raises(SimulatedCrash):
        archive.archive_run(month=MAY)
    monkeypatch.undo()

    archive.archive_run(month=MAY)  # would raise Conflict if the lock had stayed taken

    assert_archived_exactly_once_and_deleted(rows)


# --- the task ------------------------------------------------------------------------------


def test_monthly_archive_task_run_twice_archives_once(rows):
    first = monthly_archive.apply().get()
    second = monthly_archive.apply().get()

    assert (first["notifications_archived"], first["task_results_archived"]) == (5, 2)
    assert (second["notifications_archived"], second["task_results_archived"], second["files"]) == (0, 0, [])
    assert_archived_exactly_once_and_deleted(rows)


def test_monthly_archive_task_requeues_itself_for_the_same_month_while_more_remains(
    rows, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(archive, "ARCHIVE_BATCH_SIZE", 2)
    monkeypatch.setattr("enrollments.tasks.ARCHIVE_BATCHES_PER_RUN", 1)

    with django_capture_on_commit_callbacks() as callbacks:
        summary = monthly_archive.apply(kwargs={"month": "2026-05"}).get()

    assert (summary["notifications_archived"], summary["more"]) == (2, True)
    assert [(c.task.name, c.args) for c in callbacks] == [("enrollments.tasks.monthly_archive", ("2026-05",))]


@pytest.mark.parametrize(("month", "error"), [("2026-13", "YYYY-MM"), ("2026-06", "has not ended yet")])
def test_monthly_archive_task_fails_fast_on_a_bad_month(month, error):
    result = monthly_archive.apply(kwargs={"month": month})

    assert result.failed()
    assert error in str(result.result)


def test_monthly_archive_task_is_bounded_and_routed_to_the_default_queue(settings):
    from lms.celery import app

    assert monthly_archive.soft_time_limit < monthly_archive.time_limit <= settings.TASK_MAX_DELAY_SECONDS
    assert monthly_archive.retry_backoff_max <= settings.TASK_MAX_DELAY_SECONDS
    assert app.amqp.router.route({}, monthly_archive.name)["queue"].name == "default"
