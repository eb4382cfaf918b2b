"""The one way code enqueues background work.

`dispatch_on_commit(task, *args)` registers the job to be sent when the current transaction
commits (immediately when there is none), so a worker never sees a row that is not committed.
Whether the job runs in-process (`TASKS_FORCE_INLINE`, the default without a broker) or goes to
the broker is decided here and nowhere else. The task id is chosen up front, so callers can
answer `202 {task_id}` before the job exists.
"""

import logging
import uuid
from functools import partial

from celery import Task
from django.conf import settings
from django.db import transaction
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)


class TaskDispatcher:
    def dispatch_on_commit(self, task: Task, *args, **kwargs) -> str:
        """Send `task(*args, **kwargs)` after commit; returns the id the job will run under."""
        task_id = str(uuid.uuid4())
        transaction.on_commit(partial(self.send_now, task, args, kwargs, task_id=task_id))
        return task_id

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
