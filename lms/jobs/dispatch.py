"""The one way code enqueues background work.

`dispatch_on_commit(task, *args)` registers the job to be sent when the current transaction
commits (immediately when there is none), so a worker never sees a row that is not committed.
Whether the job runs in-process (`TASKS_FORCE_INLINE`, the default without a broker) or goes to
the broker is decided here and nowhere else. The task id is chosen up front, so callers can
answer `202 {task_id}` before the job exists.

Nothing lost: a queued job is also written to the outbox (`lms.models.OutboxMessage`) in the
caller's transaction. After commit it is published and its row deleted; if the broker does not
answer, the row stays and the `dispatch_outbox` sweep publishes it later under the same task id.
While the broker is failing, publishing is not even attempted for BROKER_DOWN_BACKOFF_SECONDS,
so requests stay fast during an outage.

The same job (task, args, kwargs) dispatched twice in one transaction is sent once: saving a
course with five new lessons asks for one progress recalculation, not five.
"""

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field

from celery import Task
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)

# After a failed publish, leave new jobs to the outbox sweep for this long instead of making
# every request wait on a broker that is down.
BROKER_DOWN_BACKOFF_SECONDS = 5.0


@dataclass(eq=False)
class PendingJob:
    """A job waiting for its transaction to commit; called by Django's on_commit machinery."""

    task: Task
    args: tuple
    kwargs: dict
    task_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    inline: bool = False
    sent: bool = False

    def same_job(self, other: object) -> bool:
        return (
            isinstance(other, PendingJob)
            and not other.sent
            and other.task.name == self.task.name
            and other.args == self.args
            and other.kwargs == self.kwargs
        )

    def __call__(self) -> None:
        self.sent = True
        if self.inline:
            self.task.apply(args=self.args, kwargs=self.kwargs, task_id=self.task_id)
        elif dispatcher.publish(self.task.name, self.args, self.kwargs, task_id=self.task_id):
            outbox_forget(self.task_id)


def outbox_write(job: "PendingJob") -> None:
    """Insert the job's outbox row in the caller's transaction: one plain INSERT (a third cheaper
    than the ORM's create on this hot path; the row's fields are simple)."""
    from lms.models import OutboxMessage

    fields = {f.name: f for f in OutboxMessage._meta.concrete_fields}
    values = {
        "id": job.task_id,
        "task_name": job.task.name,
        "args": list(job.args),
        "kwargs": job.kwargs,
        "created_at": timezone.now(),
        "attempts": 0,
        "last_error": "",
    }
    columns = ", ".join(fields[name].column for name in values)
    placeholders = ", ".join(["%s"] * len(values))
    params = [fields[name].get_db_prep_save(fields[name].to_python(value) if name == "id" else value, connection)
              for name, value in values.items()]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {OutboxMessage._meta.db_table} ({columns}) VALUES ({placeholders})", params)  # noqa: S608


def outbox_forget(task_id: str) -> None:
    """Delete a published job's outbox row: one plain DELETE, the hot path of every request that
    queues a job (the ORM's delete() collects related objects first: twice the time).

    After commit (autocommit, PostgreSQL) its commit does not wait for the WAL flush: a DELETE
    lost in a server crash leaves a published row, which the sweep publishes again under the
    same task id, and jobs are idempotent.
    """
    from lms.jobs.results import ASYNC_COMMIT_FROM_ITEM
    from lms.models import OutboxMessage

    pk = OutboxMessage._meta.pk
    using = ""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        using = f" USING {ASYNC_COMMIT_FROM_ITEM}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {OutboxMessage._meta.db_table}{using} WHERE id = %s",  # noqa: S608 - model's own table
            [pk.get_db_prep_value(pk.to_python(task_id), connection)],
        )


class TaskDispatcher:
    def __init__(self):
        self._lock = threading.Lock()
        self._broker_down_until = 0.0

    def dispatch_on_commit(self, task: Task, *args, **kwargs) -> str:
        """Send `task(*args, **kwargs)` after commit; returns the id the job will run under."""
        job = PendingJob(task=task, args=args, kwargs=kwargs, inline=settings.TASKS_FORCE_INLINE)
        if connection.in_atomic_block:
            # Django keeps this transaction's callbacks (and drops those of rolled-back
            # savepoints) in run_on_commit as (savepoint ids, callable, robust) tuples.
            for _sids, callback, *_ in connection.run_on_commit:
                if job.same_job(callback):
                    return callback.task_id
        if not job.inline:
            outbox_write(job)
        transaction.on_commit(job)
        return job.task_id

    def dispatch_many_on_commit(self, task: Task, args_list, **kwargs) -> list[str]:
        """Send `task(*args, **kwargs)` for every tuple in `args_list` after commit, as one batch;
        returns the task ids in the order of `args_list` (a repeated tuple gets the same id).

        The interface every fan-out uses (completions -> certificates, announcement chunks, ...).
        """
        return [self.dispatch_on_commit(task, *args, **kwargs) for args in args_list]

    def publish(self, task_name: str, args, kwargs, *, task_id: str) -> bool:
        """Hand a job to the broker now. False (logged, never raised) if the broker is down."""
        from lms.celery import app

        if time.monotonic() < self._broker_down_until:
            logger.warning("Broker marked down; %s %s waits in the outbox", task_name, task_id)
            return False
        try:
            app.send_task(task_name, args=list(args), kwargs=kwargs, task_id=task_id)
        except OperationalError:
            with self._lock:
                self._broker_down_until = time.monotonic() + BROKER_DOWN_BACKOFF_SECONDS
            logger.exception("Broker unreachable: %s %s waits in the outbox", task_name, task_id)
            return False
        with self._lock:
            self._broker_down_until = 0.0
        return True

    def broker_marked_down(self) -> bool:
        return time.monotonic() < self._broker_down_until

    def reset(self) -> None:
        """Forget a past broker failure (tests, and the sweep once a publish works again)."""
        with self._lock:
            self._broker_down_until = 0.0


dispatcher = TaskDispatcher()
dispatch_on_commit = dispatcher.dispatch_on_commit
dispatch_many_on_commit = dispatcher.dispatch_many_on_commit
