"""The base class of every task in the project (set as the app's `task_cls`)."""

import logging

from celery import Task
from django.db import InterfaceError, OperationalError

from lms.jobs.alerts import notify_admin

logger = logging.getLogger(__name__)

# Retry policy for tasks whose only expected failures are the database being briefly away
# (restart, failover, connection dropped): exponential backoff with jitter, bounded.
DB_RETRY_OPTIONS = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 8,
}


class LmsTask(Task):
    """A task whose final failure is recorded in the result store and reported to staff.

    Celery calls `on_failure` only once retries are exhausted or the error is not retried,
    so staff hear about permanent failures, not about each transient hiccup.
    """

    # Used when a pool process died mid-task (task_retry_on_worker_lost): try again soon, not
    # after Celery's default three minutes. Tasks with autoretry use their own backoff.
    default_retry_delay = 5
    # The stuck-job sweep (lms.jobs.stuck) re-queues a job its worker lost under a new id; a task
    # that must not be re-run automatically sets this False and is only marked FAILURE.
    rerun_when_stuck = True

    def before_start(self, task_id, args, kwargs):
        # django-celery-results stores `request.meta` with the result: record the queue that
        # delivered the job (None when it ran inline), so admins see where it ran, and how many
        # times it was retried before this run (the queues page counts retried jobs).
        delivery_info = self.request.delivery_info or {}
        self.request.meta = {"queue": delivery_info.get("routing_key"), "retries": self.request.retries or 0}

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        notify_admin(
            subject=f"Task {self.name} failed",
            message=(
                f"Task {self.name} (id {task_id}) failed permanently.\nargs={args!r} kwargs={kwargs!r}\n\n{einfo}"
            ),
        )
