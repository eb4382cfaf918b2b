"""Project-wide reads: a task's state from the result store (django-celery-results)."""

from celery import states
from django_celery_results.models import TaskResult

from lms.jobs.results import json_decode, result_meta


def task_result_get(*, task_id: str) -> dict:
    """`{task_id, task_name, status, result, date_done, progress}`; an id nobody stored is
    PENDING. `progress` is the `{done, total}` a long job last reported (lms.jobs.progress),
    while it runs (or while the jobs it started run); null once finished, or for a job that
    reports none."""
    row = TaskResult.objects.filter(task_id=task_id).first()
    if row is None:
        return {
            "task_id": task_id, "task_name": None, "status": "PENDING", "result": None, "date_done": None,
            "progress": None,
        }  # fmt: skip
    progress = result_meta(row).get("progress")
    # A finished job's final write replaces its meta, so what is left after it was reported by
    # the jobs it started (an announcement's chunks on its fan-out): shown until they are done.
    if row.status in states.READY_STATES and not (progress and progress.get("done", 0) < (progress.get("total") or 0)):
        progress = None
    return {
        "task_id": row.task_id,
        "task_name": row.task_name,
        "status": row.status,
        "result": json_decode(row.result),
        "date_done": row.date_done,
        "progress": progress,
    }
