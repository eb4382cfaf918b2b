"""Account maintenance tasks (queue `default`, run on beat's schedule). Thin: call a service.

Invariants: each task is idempotent. It deletes only what its service selects at the time it
runs, in committed batches, so a second run, a redelivery or a run cut short by its time limit
leaves nothing half done: the next run finds what is left, or nothing. Each returns a small
summary dict, kept in the result store.
"""

import logging

from celery import shared_task
from django.db import OperationalError

from lms.users import services

logger = logging.getLogger(__name__)

MAINTENANCE_TASK_OPTIONS = {
    # The database restarting or failing over is worth a few retries; anything else is a bug.
    "autoretry_for": (OperationalError,),
    "retry_backoff": 30,  # 30 s, 60 s, 120 s with full jitter
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 3,
    # Batches commit as they go, so stopping at the soft limit loses nothing.
    "soft_time_limit": 10 * 60,
    "time_limit": 11 * 60,
}


@shared_task(name="lms.users.tasks.cleanup_expired_tokens", **MAINTENANCE_TASK_OPTIONS)
def cleanup_expired_tokens() -> dict[str, int]:
    return services.token_cleanup_expired()


@shared_task(name="lms.users.tasks.cleanup_unverified_users", **MAINTENANCE_TASK_OPTIONS)
def cleanup_unverified_users() -> dict[str, int]:
    return services.user_cleanup_unverified()
