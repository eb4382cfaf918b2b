"""`celery -A bench._stock_app worker` (with DJANGO_SETTINGS_MODULE=bench._stock_settings): a
stock Celery + Django app that uses no project code, the baseline of `python -m bench pipeline`.
Celery's defaults, `result_backend="django-db"` with `result_extended`, `acks_late`, and one
task that does nothing; with STOCK_RESULT_BACKEND=none, the same app without a result store."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench._stock_settings")

STOCK_NOOP_TASK = "stock.noop"

app = Celery("stock")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.task(name=STOCK_NOOP_TASK)
def noop(job_id: str) -> str:
    return "noop"


__all__ = ["STOCK_NOOP_TASK", "app", "noop"]
