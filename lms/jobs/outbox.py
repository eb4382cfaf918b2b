"""The outbox sweep: publish jobs whose after-commit publish did not happen.

Invariants: a row is published at most once per sweep (rows are claimed with
SELECT ... FOR UPDATE SKIP LOCKED, so concurrent sweeps split the work) and deleted only once
the broker accepted it; a sweep stops at the first refusal and leaves the rest for the next.
A sweep works in batches of OUTBOX_BATCH_SIZE (up to OUTBOX_BATCHES_PER_RUN a run), each a
constant number of statements and one broker connection: the claim, the publishes on one
producer (pipelined), one DELETE of the published rows (and one UPDATE of the row the broker
refused).
Rows younger than OUTBOX_GRACE_SECONDS are left alone: their own request is still publishing.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from lms.jobs.dispatch import dispatcher, outbox_forget_many
from lms.models import OutboxMessage

logger = logging.getLogger(__name__)

# Long enough that the after-commit publish of a live request has finished.
OUTBOX_GRACE_SECONDS = 10
# Rows claimed (and published, and deleted) per batch, each batch its own transaction.
OUTBOX_BATCH_SIZE = 500
# Batches one sweep runs at most: a bulk dispatch the broker missed (thousands of jobs) is
# published within one run (10,000 jobs: seconds), far inside the task's time limit; the next
# run takes whatever is left.
OUTBOX_BATCHES_PER_RUN = 20
LAST_ERROR_MAX_CHARS = 2000


def outbox_dispatch_pending(
    *,
    grace_seconds: float = OUTBOX_GRACE_SECONDS,
    batch_size: int = OUTBOX_BATCH_SIZE,
    max_batches: int = OUTBOX_BATCHES_PER_RUN,
) -> dict:
    cutoff = timezone.now() - timedelta(seconds=grace_seconds)
    dispatcher.reset()  # the sweep always tries the broker, whatever an earlier failure said
    published = 0
    for _ in range(max_batches):
        claimed, sent = _publish_batch(cutoff=cutoff, batch_size=batch_size)
        published += sent
        if sent < claimed or claimed < batch_size:  # refused, or nothing more to claim
            break
    remaining = OutboxMessage.objects.count()
    if published or remaining:
        logger.info("Outbox sweep published %d job(s); %d still waiting", published, remaining)
    return {"published": published, "remaining": remaining}


def _publish_batch(*, cutoff, batch_size: int) -> tuple[int, int]:
    """Claim up to `batch_size` rows older than `cutoff`, publish them on one connection, delete
    those the broker took. Returns (claimed, published)."""
    with transaction.atomic():
        rows = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(created_at__lte=cutoff)
            .order_by("created_at")[:batch_size]
        )
        published = dispatcher.publish_many([(row.task_name, row.args, row.kwargs, str(row.id)) for row in rows])
        if len(published) < len(rows):
            refused = rows[len(published)]
            OutboxMessage.objects.filter(pk=refused.pk).update(
                attempts=refused.attempts + 1, last_error="broker unreachable"[:LAST_ERROR_MAX_CHARS]
            )
        outbox_forget_many(published)
    return len(rows), len(published)
