"""Every message says when it was published (header `lms_published_at`, seconds since the
epoch), so the queues page (lms.jobs.queues) can tell the age of a queue's oldest message;
Celery itself records no publish time. Connected when lms.celery is imported, so in every
process that publishes (web, workers, beat, commands)."""

import time

from celery import signals

PUBLISHED_AT_HEADER = "lms_published_at"


@signals.before_task_publish.connect(dispatch_uid="lms.jobs.stamps.stamp_published_at")
def stamp_published_at(headers=None, **kwargs):
    if headers is not None:
        headers.setdefault(PUBLISHED_AT_HEADER, time.time())
