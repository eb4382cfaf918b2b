"""The monthly archive: notifications and task results older than the retention period, written
to default storage as gzip-compressed JSON lines, then deleted from the database.

What a run does. A run archives a month, `YYYY-MM`: every row older than its cutoff, which is
ARCHIVE_RETENTION_DAYS before the end of that month. Notifications count by `created_at`, task
results (django-celery-results) by `date_done`. The scheduled run on day 1 archives the month
that just ended; a month that has not ended yet is refused. Rows older than an earlier cutoff
that an earlier run missed are simply picked up by the next run.

Files. `archive/<YYYY-MM>/<source>-part-<NNNN>.jsonl.gz`, one per batch of ARCHIVE_BATCH_SIZE
rows (source `notifications` or `task_results`). Each line is one row in Django's
serialization format, `{"model", "pk", "fields"}` with every field and datetimes in full ISO
8601, so `zcat archive/2026-05/notifications-part-*.jsonl.gz` reads a month and
`manage.py loaddata` can restore a part. `archive/<YYYY-MM>/manifest.json` lists the parts of
the folder whose rows are gone from the database, with their row counts and SHA-256.

Invariants (a crash at any point loses no row and writes none twice):
- A row is deleted only by the transaction that archived it: the batch is locked
  (SELECT ... FOR UPDATE), its part file written and flushed to disk, the rows deleted, and only
  then does the transaction commit. Before that commit the rows are still in the database;
  after it they are in a complete file.
- A crash between writing a part and that commit leaves a complete part whose rows are still in
  the database. So every run first *settles* each part that its folder's manifest does not list
  (in any month's folder): it reads the part, deletes the rows the part holds that are still
  there, and lists the part. Those rows are archived already; new batches are selected only
  afterwards and never see them, so no row lands in two parts. New parts are numbered after the
  highest existing one: nothing an earlier run wrote is ever overwritten.
- A crash while a part is being written leaves it torn, which its gzip checksum reveals. Its
  rows were never deleted (deletion waits for a complete write), so the torn file is set aside
  as `<name>.incomplete`, kept for inspection, and its rows go into a new part.
- One run at a time: two runs would pick the same rows. Runs take a PostgreSQL session advisory
  lock; a run that finds it taken changes nothing and raises Conflict. (SQLite, for development,
  has no such lock: run one archive at a time there.)
- The manifest is a table of contents and a shortcut, never the only record: if it is lost or
  damaged, the next run reads the parts again and deletes only rows that are in one.
- Rows are archived as they were when their batch was locked; a row changed after a crash left
  its part unsettled is deleted with the earlier version archived (rows this old do not change).
"""

import gzip
import hashlib
import json
import logging
import os
import posixpath
import re
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.core import serializers
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone
from django_celery_results.models import TaskResult

from lms.errors import Conflict, InvalidInput
from notifications.models import Notification

logger = logging.getLogger(__name__)

ARCHIVE_ROOT = "archive"
MANIFEST_NAME = "manifest.json"
# Rows per part file and per transaction. The batch's rows stay locked while its part is
# serialised, compressed and written: about 1 MB of JSON in memory and ~100 KB on disk for
# notifications, well under a second, so nothing waits on those locks for long.
ARCHIVE_BATCH_SIZE = 1000
# Key of the advisory lock that keeps archive runs one at a time.
ARCHIVE_LOCK_NAME = "lms-archive"
PART_PATTERN = re.compile(r"(?P<source>[a-z_]+)-part-(?P<number>\d+)\.jsonl\.gz")
MONTH_PATTERN = re.compile(r"(?P<year>\d{4})-(?P<month>\d{2})")
INCOMPLETE_SUFFIX = ".incomplete"


@dataclass(frozen=True)
class Source:
    """A table the archive empties: rows dated before the cutoff by `date_field`."""

    name: str  # file prefix, and `<name>_archived` in the summary
    model: type[models.Model]
    date_field: str

    def older_than(self, cutoff: datetime) -> models.QuerySet:
        return self.model.objects.filter(**{f"{self.date_field}__lt": cutoff})


SOURCES = (
    Source("notifications", Notification, "created_at"),
    Source("task_results", TaskResult, "date_done"),
)
SOURCES_BY_NAME = {source.name: source for source in SOURCES}


class TornPartError(Exception):
    """A part file that is not a complete archive part (a write cut short)."""


class ArchiveJSONEncoder(DjangoJSONEncoder):
    """Django's encoder, but datetimes and times keep their microseconds."""

    def default(self, o):
        if isinstance(o, datetime | time):
            return o.isoformat()
        return super().default(o)


# --- Months ----------------------------------------------------------------------------------


def month_parse(value: str) -> date:
    """`YYYY-MM` -> the first day of that month. ValueError, saying what to give, otherwise."""
    match = MONTH_PATTERN.fullmatch(value.strip())
    if not match or not 1 <= int(match["month"]) <= 12:
        raise ValueError(f"A month is written YYYY-MM, e.g. 2026-05; got {value!r}")
    return date(int(match["year"]), int(match["month"]), 1)


def month_previous(now: datetime) -> date:
    """The month that ended last before `now` (the one a scheduled run archives)."""
    first_of_this_month = now.astimezone(UTC).date().replace(day=1)
    return (first_of_this_month - timedelta(days=1)).replace(day=1)


def month_label(month: date) -> str:
    return f"{month:%Y-%m}"


def month_end(month: date) -> datetime:
    """The first instant (UTC) after the month."""
    following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return datetime.combine(following, time.min, tzinfo=UTC)


def archive_cutoff(*, month: date, now: datetime | None = None) -> datetime:
    """Rows older than this are archived by the run for `month`. InvalidInput if it has not ended."""
    now = now or timezone.now()
    end = month_end(month)
    if end > now:
        raise InvalidInput(
            f"The month {month_label(month)} has not ended yet; archive a month that has, "
            f"e.g. {month_label(month_previous(now))}.",
            field="month",
        )
    days = settings.ARCHIVE_RETENTION_DAYS
    if days < 1:
        raise InvalidInput(f"ARCHIVE_RETENTION_DAYS must be at least 1, not {days}.", field="ARCHIVE_RETENTION_DAYS")
    return end - timedelta(days=days)


def archive_folder(month: date) -> str:
    return f"{ARCHIVE_ROOT}/{month_label(month)}"


# --- Use cases -------------------------------------------------------------------------------


def archive_plan(*, month: date, now: datetime | None = None) -> dict:
    """What `archive_run` would do now, changing nothing (the commands' --dry-run)."""
    cutoff = archive_cutoff(month=month, now=now)
    return {
        "month": month_label(month),
        "cutoff": cutoff.isoformat(),
        "folder": archive_folder(month),
        **{source.name: source.older_than(cutoff).count() for source in SOURCES},
        "unsettled_parts": sum(len(_unlisted_parts(folder)) for folder in _month_folders()),
    }


def archive_run(
    *,
    month: date,
    now: datetime | None = None,
    batch_size: int | None = None,
    max_batches: int | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> dict:
    """Archive, then delete, every notification and task result older than the month's cutoff.

    Settles parts an interrupted run left behind first (see the module docstring), then writes
    parts of `batch_size` rows (default ARCHIVE_BATCH_SIZE), at most `max_batches` of them (None:
    until done); `more` in the summary says whether rows remain.
    Raises Conflict while another run holds the archive lock. Returns
    `{month, cutoff, notifications_archived, task_results_archived, files, recovered_files, more}`.
    """
    cutoff = archive_cutoff(month=month, now=now)
    folder = archive_folder(month)
    batch_size = batch_size or ARCHIVE_BATCH_SIZE
    summary = {
        "month": month_label(month),
        "cutoff": cutoff.isoformat(),
        **{f"{source.name}_archived": 0 for source in SOURCES},
        "files": [],
        "recovered_files": [],
        "more": False,
    }
    with _archive_lock():
        for name, source, deleted in _settle_unlisted_parts():
            summary["recovered_files"].append(name)
            summary[f"{source.name}_archived"] += deleted
        batches = 0
        for source in SOURCES:
            number = _highest_part_number(folder, source)
            while max_batches is None or batches < max_batches:
                number += 1
                name = f"{folder}/{source.name}-part-{number:04d}.jsonl.gz"
                written = _archive_batch(source, cutoff=cutoff, name=name, batch_size=batch_size)
                if written is None:
                    break
                rows, digest = written
                _manifest_add(folder, {posixpath.basename(name): {"rows": rows, "sha256": digest}}, cutoff=cutoff)
                summary["files"].append(name)
                summary[f"{source.name}_archived"] += rows
                batches += 1
                if on_batch:
                    on_batch(rows)
        summary["more"] = any(source.older_than(cutoff).exists() for source in SOURCES)
    logger.info(
        "Archived %s (cutoff %s): %d notification(s), %d task result(s) in %d new part(s), %d part(s) settled%s",
        summary["month"], summary["cutoff"], summary["notifications_archived"], summary["task_results_archived"],
        len(summary["files"]), len(summary["recovered_files"]), "; more to do" if summary["more"] else "",
    )  # fmt: skip
    return summary


# --- One batch -------------------------------------------------------------------------------


def _archive_batch(source: Source, *, cutoff: datetime, name: str, batch_size: int) -> tuple[int, str] | None:
    """Lock the next batch, write it as part `name`, delete it; commit. None when none is left."""
    with transaction.atomic():
        rows = list(source.older_than(cutoff).select_for_update().order_by("pk")[:batch_size])
        if not rows:
            return None
        content = _encode(rows)
        _write_new_file(name, content)
        _delete_archived(source, [row.pk for row in rows])
    return len(rows), hashlib.sha256(content).hexdigest()


def _delete_archived(source: Source, pks: list) -> int:
    """Delete rows that are in a complete part file; returns how many were still there."""
    _, per_model = source.model.objects.filter(pk__in=pks).delete()
    return per_model.get(source.model._meta.label, 0)


def _encode(rows: list[models.Model]) -> bytes:
    text = serializers.serialize("jsonl", rows, cls=ArchiveJSONEncoder)
    # mtime=0: the same rows always give the same bytes.
    return gzip.compress(text.encode("utf-8"), mtime=0)


def _write_new_file(name: str, content: bytes) -> None:
    if default_storage.exists(name):  # numbering past every existing part makes this a bug
        raise FileExistsError(f"{name} exists already; an archive part is never overwritten")
    saved = default_storage.save(name, ContentFile(content))
    _flush_to_disk(saved)


def _flush_to_disk(name: str) -> None:
    """Make a written file survive a power cut before the rows it holds are deleted."""
    try:
        path = default_storage.path(name)
    except NotImplementedError:
        return  # a remote storage (S3 and the like) acknowledges a write only once it is durable
    for target, flags in ((path, os.O_RDONLY), (os.path.dirname(path), os.O_RDONLY)):
        descriptor = os.open(target, flags)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


# --- Settling parts an interrupted run left --------------------------------------------------


def _settle_unlisted_parts() -> Iterator[tuple[str, Source, int]]:
    """For each part not in its folder's manifest: delete the rows it holds, then list it.

    Yields (part name, source, rows deleted now). A torn part is set aside instead.
    """
    for folder in _month_folders():
        for name in _unlisted_parts(folder):
            source = SOURCES_BY_NAME.get(PART_PATTERN.fullmatch(posixpath.basename(name))["source"])
            if source is None:
                logger.warning("Archive part %s names no table this code archives; left alone", name)
                continue
            try:
                pks, digest = _read_part(name, source)
            except TornPartError as exc:
                _set_aside(name, reason=str(exc))
                continue
            with transaction.atomic():
                deleted = _delete_archived(source, pks)
            _manifest_add(folder, {posixpath.basename(name): {"rows": len(pks), "sha256": digest}})
            logger.warning(
                "Settled archive part %s left by an interrupted run: %d of its %d row(s) were still in the database",
                name, deleted, len(pks),
            )  # fmt: skip
            yield name, source, deleted


def _read_part(name: str, source: Source) -> tuple[list, str]:
    """The primary keys a part holds, and its SHA-256. TornPartError if it is not complete."""
    with default_storage.open(name, "rb") as file:
        raw = file.read()
    try:
        records = [json.loads(line) for line in gzip.decompress(raw).decode("utf-8").splitlines() if line]
        pks = [record["pk"] for record in records if record["model"] == source.model._meta.label_lower]
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise TornPartError(f"{name} is not a complete gzip JSON-lines file ({type(exc).__name__}: {exc})") from exc
    if not records or len(pks) != len(records):  # parts are never written empty or mixed
        raise TornPartError(f"{name} holds no rows of {source.model._meta.label}")
    return pks, hashlib.sha256(raw).hexdigest()


def _set_aside(name: str, *, reason: str) -> None:
    with default_storage.open(name, "rb") as file:
        content = file.read()
    kept = default_storage.save(name + INCOMPLETE_SUFFIX, ContentFile(content))
    default_storage.delete(name)
    logger.warning("Set aside torn archive part %s as %s: %s. Its rows are archived again.", name, kept, reason)


# --- Storage layout --------------------------------------------------------------------------


def _month_folders() -> list[str]:
    try:
        folders, _ = default_storage.listdir(ARCHIVE_ROOT)
    except FileNotFoundError:
        return []
    return sorted(f"{ARCHIVE_ROOT}/{folder}" for folder in folders if MONTH_PATTERN.fullmatch(folder))


def _files(folder: str) -> list[str]:
    try:
        _, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return []
    return sorted(files)


def _unlisted_parts(folder: str) -> list[str]:
    listed = _manifest_read(folder)["parts"]
    return [
        f"{folder}/{file}" for file in _files(folder) if PART_PATTERN.fullmatch(file) and file not in listed
    ]  # fmt: skip


def _highest_part_number(folder: str, source: Source) -> int:
    """Counting set-aside parts too, so a new part never takes the name of an old one."""
    numbers = [
        int(match["number"])
        for file in _files(folder)
        if (match := PART_PATTERN.match(file)) and match["source"] == source.name
    ]
    return max(numbers, default=0)


def _manifest_read(folder: str) -> dict:
    name = f"{folder}/{MANIFEST_NAME}"
    try:
        with default_storage.open(name, "rb") as file:
            manifest = json.loads(file.read())
        if not isinstance(manifest.get("parts"), dict):
            raise ValueError("no parts")
    except FileNotFoundError:
        return {"parts": {}}
    except ValueError as exc:  # damaged: every part is read again, which is safe
        logger.warning("Archive manifest %s is unreadable (%s); its parts will be checked again", name, exc)
        return {"parts": {}}
    return manifest


def _manifest_add(folder: str, parts: dict, *, cutoff: datetime | None = None) -> None:
    manifest = _manifest_read(folder)
    manifest["month"] = posixpath.basename(folder)
    if cutoff is not None:
        manifest["cutoff"] = cutoff.isoformat()
    manifest["parts"].update(parts)
    manifest["parts"] = dict(sorted(manifest["parts"].items()))
    name = f"{folder}/{MANIFEST_NAME}"
    if default_storage.exists(name):
        default_storage.delete(name)
    _flush_to_disk(default_storage.save(name, ContentFile(json.dumps(manifest, indent=2).encode("utf-8"))))


# --- One run at a time -----------------------------------------------------------------------


@contextmanager
def _archive_lock():
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        # Session level, not transaction level: the run commits batch after batch under it.
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [ARCHIVE_LOCK_NAME])
        (locked,) = cursor.fetchone()
    if not locked:
        raise Conflict("Another archive run is in progress; it archives the same rows. Let it finish, then run again.")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [ARCHIVE_LOCK_NAME])
        except DatabaseError:  # the connection is gone, and the lock went with it
            logger.warning("Could not release the archive lock; it is released when the connection closes")
