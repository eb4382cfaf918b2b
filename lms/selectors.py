"""Project-wide reads: a task's state from the result store (django-celery-results)."""

import json

from django_celery_results.models import TaskResult


def _decode(value: str | None):
    """The stored result is a JSON string: give back the value itself."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def task_result_get(*, task_id: str) -> dict:
    """`{task_id, task_name, status, result, date_done}`; an id nobody stored is PENDING."""
    row = TaskResult.objects.filter(task_id=task_id).first()
    if row is None:
        return {"task_id": task_id, "task_name": None, "status": "PENDING", "result": None, "date_done": None}
    return {
        "task_id": row.task_id,
        "task_name": row.task_name,
        "status": row.status,
        "result": _decode(row.result),
        "date_done": row.date_done,
    }
