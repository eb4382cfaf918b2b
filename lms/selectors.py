"""Project-wide reads: a task's state from the result store (django-celery-results)."""

from celery import states
from django_celery_results.models import TaskResult

from lms.jobs.results import json_decode, result_meta


def task_result_get(*, task_id: str) -> dict:
    """`{task_id, task_name, status, result, date_done, progress}`; an id nobody stored is
    PENDING. `progress` is the `{done, total}` a long job last reported (lms.jobs.progress),
    while it runs; null once it has finished, or for a job that reports none."""
    row = TaskResult.objects.filter(task_id=task_id).first()
    if row is None:
        return {
            "task_id": task_id, "task_name": None, "status": "PENDING", "result": None, "date_done": None,
            "progress": None,
        }  # fmt: skip
    progress = None if row.status in states.READY_STATES else result_meta(row).get("progress")
    return {
        "task_id": row.task_id,
        "task_name": row.task_name,
        "status": row.status,
        "result": json_decode(row.result),
        "date_done": row.date_done,
        "progress": progress,
    }
