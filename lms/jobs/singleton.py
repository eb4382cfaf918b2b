"""Singleton jobs: at most one job per key queued, and at most one running.

    task_id = dispatch_singleton_on_commit(task, f"course-progress:{course_id}", course_id)
    ...
    # first thing in the task:
    singleton_started(key=f"course-progress:{course_id}")

`dispatch_singleton_on_commit` queues the job (lms.jobs.dispatch, outbox included) only if no
job of that key is queued and not yet started; otherwise it returns the queued job's id. The
job calls `singleton_started` as it starts, which frees the key: a change made while it runs
queues exactly one more job, which sees that change. With `settle_seconds` the job first lets
the key age that long, so a burst of changes folds into it. So 200 changes in a row cost a
handful of runs (about the burst's length / (settle time + one run)), one running and at most
one queued at any moment, never 200. Not running two at once is the job's own lock (for the
progress recalculation, the course's advisory lock).

Invariants:
- the key's row (lms.models.QueuedSingleton) is inserted in the caller's transaction, with the
  job's outbox row: a rolled-back change queues nothing and leaves no key behind;
- concurrent callers of one key wait on its unique row: exactly one inserts and queues;
- a key queued longer ago than SINGLETON_STALE_SECONDS is taken over (its message was lost, or
  its job died before starting), so a lost job never blocks the key for good.
"""

import time
from datetime import timedelta

from celery import Task
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from lms.jobs.dispatch import dispatch_on_commit
from lms.models import QueuedSingleton


def singleton_stale_seconds() -> int:
    """A queued job not started after this long is taken as lost: the broker would have
    redelivered it by then (its visibility timeout) with time to spare."""
    return int(settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]) + 60


def dispatch_singleton_on_commit(task: Task, key: str, *args, **kwargs) -> str:
    """Queue `task(*args, **kwargs)` after commit unless a job of `key` is already queued;
    returns the id of the job that will run (the new one, or the one already queued)."""
    now = timezone.now()
    stale_before = now - timedelta(seconds=singleton_stale_seconds())
    table = QueuedSingleton._meta.db_table
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Insert the key, or take over a stale one; no row back = a live job holds the key.
            cursor.execute(
                f"INSERT INTO {table} (key, task_id, queued_at) VALUES (%s, '', %s) "  # noqa: S608 - model's table
                f"ON CONFLICT (key) DO UPDATE SET task_id = '', queued_at = EXCLUDED.queued_at "
                f"WHERE {table}.queued_at < %s RETURNING key",
                [key, now, stale_before],
            )
            taken = cursor.fetchone() is not None
        if not taken:
            queued = QueuedSingleton.objects.filter(key=key).values_list("task_id", flat=True).first()
            if queued:
                return queued
            # Queued by a transaction that has not set its id yet: impossible here (same
            # statement order), but never answer without an id.
        task_id = dispatch_on_commit(task, *args, **kwargs)
        QueuedSingleton.objects.filter(key=key).update(task_id=task_id)
    return task_id


def singleton_started(*, key: str, settle_seconds: float = 0) -> None:
    """The job of `key` has started: free the key (autocommit, before the job's own work), so a
    change from now on queues the next job.

    With `settle_seconds`, first wait until the key has been queued that long (at most that
    long): changes arriving in a burst (an author saving lesson after lesson) keep folding into
    this job instead of each queueing the next one as soon as the previous run started.
    """
    queued_at = QueuedSingleton.objects.filter(key=key).values_list("queued_at", flat=True).first()
    if queued_at is not None and settle_seconds > 0:
        wait = settle_seconds - (timezone.now() - queued_at).total_seconds()
        if wait > 0:
            time.sleep(min(wait, settle_seconds))
    QueuedSingleton.objects.filter(key=key).delete()
