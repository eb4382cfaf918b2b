"""Platform tasks (queue `default`)."""

from celery import shared_task

from lms.jobs.outbox import OUTBOX_GRACE_SECONDS, outbox_dispatch_pending
from lms.jobs.task_base import DB_RETRY_OPTIONS


@shared_task(name="lms.tasks.dispatch_outbox", soft_time_limit=120, time_limit=180, **DB_RETRY_OPTIONS)
def dispatch_outbox(grace_seconds: float = OUTBOX_GRACE_SECONDS) -> dict:
    """Publish jobs left in the outbox (broker was down at commit time). Idempotent."""
    return outbox_dispatch_pending(grace_seconds=grace_seconds)
