"""The base class of every task in the project (set as the app's `task_cls`)."""

import logging

from celery import Task

from lms.alerts import notify_admin

logger = logging.getLogger(__name__)


class LmsTask(Task):
    """A task whose final failure is recorded in the result store and reported to staff.

    Celery calls `on_failure` only once retries are exhausted or the error is not retried,
    so staff hear about permanent failures, not about each transient hiccup.
    """

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        notify_admin(
            subject=f"Task {self.name} failed",
            message=(
                f"Task {self.name} (id {task_id}) failed permanently.\nargs={args!r} kwargs={kwargs!r}\n\n{einfo}"
            ),
        )
