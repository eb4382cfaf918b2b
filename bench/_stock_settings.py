"""Django settings of the stock baseline (bench/_stock_app.py): nothing of the project's, only
what django-celery-results needs, each left at Django's default (so CONN_MAX_AGE is 0)."""

import os

import environ

SECRET_KEY = "bench-stock-baseline"  # noqa: S105 - a benchmark process, never served
INSTALLED_APPS = ["django_celery_results"]
DATABASES = {"default": environ.Env.db_url_config(os.environ["DATABASE_URL"])}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Celery, as its "First steps with Django" guide sets it up: defaults, plus the result store
# and acks_late the stock setup names. STOCK_RESULT_BACKEND=none: no result store.
CELERY_BROKER_URL = os.environ["CELERY_BROKER_URL"]
if os.environ.get("STOCK_RESULT_BACKEND", "django-db") != "none":
    CELERY_RESULT_BACKEND = "django-db"
    CELERY_RESULT_EXTENDED = True
CELERY_TASK_ACKS_LATE = True
