"""The outbox sweep: publish jobs whose after-commit publish did not happen.

Invariants: a row is published at most once per sweep (rows are claimed with
SELECT ... FOR UPDATE SKIP LOCKED, so concurrent sweeps split the work) and deleted only once
the broker accepted it; a sweep stops at the first refusal and leaves the rest for the next.
A sweep costs a constant number of statements and one broker connection per batch: the claim,
the publishes on one producer, one DELETE of the published rows (and one UPDATE of the row the
broker refused).
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
# Rows one sweep claims; the next sweep takes the rest.
OUTBOX_BATCH_SIZE = 500
LAST_ERROR_MAX_CHARS = 2000


def outbox_dispatch_pending(
    *, grace_seconds: float = OUTBOX_GRACE_SECONDS, batch_size: int = OUTBOX_BATCH_SIZE
) -> dict:
    cutoff = timezone.now() - timedelta(seconds=grace_seconds)
    dispatcher.reset()  # the sweep always tries the broker, whatever an earlier failure said
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
    remaining = OutboxMessage.objects.count()
    if published or remaining:
        logger.info("Outbox sweep published %d job(s); %d still waiting", len(published), remaining)
    return {"published": len(published), "remaining": remaining}
