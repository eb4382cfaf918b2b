"""`celery -A bench._pipeline_app worker`: the project's Celery app, unchanged (same settings,
same task modules, same base task and result store), plus `bench.noop`, the baseline task of
`python -m bench pipeline`. Only benchmarks start a worker on this module."""

from lms.celery import app

NOOP_TASK = "bench.noop"


@app.task(name=NOOP_TASK)
def noop(notification_id: str) -> str:
    """Takes the same argument as notifications.tasks.send_notification and does nothing."""
    return "noop"


__all__ = ["NOOP_TASK", "app", "noop"]
