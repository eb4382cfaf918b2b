# Importing the Celery app here makes it the current app in every process that loads Django,
# so shared_task binds to it and django-celery-beat's admin sees its registry.
from lms.celery import app as celery_app

__all__ = ("celery_app",)
