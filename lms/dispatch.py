"""The one way code enqueues background work.

`dispatch_on_commit(task, *args)` registers the job to be sent when the current transaction
commits (immediately when there is none), so a worker never sees a row that is not committed.
Whether the job runs in-process (`TASKS_FORCE_INLINE`, the default without a broker) or goes to
the broker is decided here and nowhere else. The task id is chosen up front, so callers can
answer `202 {task_id}` before the job exists.

The same job (task, args, kwargs) dispatched twice in one transaction is sent once: saving a
course with five new lessons asks for one progress recalculation, not five.
"""

import logging
import uuid
from dataclasses import dataclass, field

from celery import Task
from django.conf import settings
from django.db import connection, transaction
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class PendingJob:
    """A job waiting for its transaction to commit; called by Django's on_commit machinery."""

    task: Task
    args: tuple
    kwargs: dict
    task_id: str = field(default_factory=lambda: str(uuid.uuid4()))
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
        dispatcher.send_now(self.task, self.args, self.kwargs, task_id=self.task_id)


class TaskDispatcher:
    def dispatch_on_commit(self, task: Task, *args, **kwargs) -> str:
        """Send `task(*args, **kwargs)` after commit; returns the id the job will run under."""
        job = PendingJob(task=task, args=args, kwargs=kwargs)
        if connection.in_atomic_block:
            # Django keeps this transaction's callbacks (and drops those of rolled-back
            # savepoints) in run_on_commit as (savepoint ids, callable, robust) tuples.
            for _sids, callback, *_ in connection.run_on_commit:
                if job.same_job(callback):
                    return callback.task_id
        transaction.on_commit(job)
        return job.task_id

    def send_now(self, task: Task, args=(), kwargs=None, *, task_id: str | None = None, **options) -> str:
        """Send without waiting for a commit. Only for callers outside any transaction."""
        task_id = task_id or str(uuid.uuid4())
        if settings.TASKS_FORCE_INLINE:
            task.apply(args=args, kwargs=kwargs, task_id=task_id, **options)
            return task_id
        try:
            task.apply_async(args=args, kwargs=kwargs, task_id=task_id, **options)
        except OperationalError:
            # The data is committed; the broker is not answering. Never fail the request.
            logger.exception("Broker unreachable: could not send %s %s", task.name, task_id)
        return task_id


dispatcher = TaskDispatcher()
dispatch_on_commit = dispatcher.dispatch_on_commit
