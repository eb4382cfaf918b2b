"""The Celery application: `celery -A lms worker|beat|flower` finds `app` here."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")

app = Celery("lms", task_cls="lms.task_base:LmsTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
