"""Logging helpers: every line carries the id of the Celery task that wrote it."""

import logging

from celery import current_task


class TaskIdFilter(logging.Filter):
    """Adds `task_id` to every record: the running task's id, or "-" outside a task."""

    def filter(self, record: logging.LogRecord) -> bool:
        task = current_task
        request = getattr(task, "request", None) if task else None
        record.task_id = getattr(request, "id", None) or "-"
        return True
