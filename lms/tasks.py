"""Platform tasks (queue `default`)."""

from celery import shared_task

from lms.jobs.outbox import OUTBOX_GRACE_SECONDS, outbox_dispatch_pending
from lms.jobs.stuck import stuck_jobs_sweep
from lms.jobs.task_base import DB_RETRY_OPTIONS


# A periodic sweep lost with its worker is not worth re-running: the next tick does its work.
@shared_task(
    name="lms.tasks.dispatch_outbox", soft_time_limit=120, time_limit=180, rerun_when_stuck=False, **DB_RETRY_OPTIONS
)
def dispatch_outbox(grace_seconds: float = OUTBOX_GRACE_SECONDS) -> dict:
    """Publish jobs left in the outbox (broker was down at commit time). Idempotent."""
    return outbox_dispatch_pending(grace_seconds=grace_seconds)


@shared_task(
    name="lms.tasks.sweep_stuck_jobs", soft_time_limit=120, time_limit=180, rerun_when_stuck=False, **DB_RETRY_OPTIONS
)
def sweep_stuck_jobs(margin_seconds: float | None = None) -> dict:
    """Re-queue jobs left STARTED by a lost worker (lms.jobs.stuck). Idempotent: a healed row is
    no longer STARTED. `margin_seconds` defaults to STUCK_JOB_MARGIN_SECONDS."""
    return stuck_jobs_sweep(margin_seconds=margin_seconds)
