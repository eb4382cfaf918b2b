import uuid

from django.db import models


class OutboxMessage(models.Model):
    """A job written in the same transaction as the data it is about, until the broker has it.

    The dispatcher inserts the row in the caller's transaction and deletes it once the broker
    accepted the message after commit. A row that stays (broker down, process killed between
    commit and publish) is published again by the `dispatch_outbox` sweep, under the same task
    id: the tasks are idempotent, so a rare second publish changes nothing.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, help_text="The job's task id")
    task_name = models.CharField(max_length=200)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Sweeps that tried to publish it")
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.task_name} {self.id}"


class Lease(models.Model):
    """A named lock with an expiry, held by renewing it: the single-beat lock when the broker
    is not Redis (lms/jobs/leases.py)."""

    name = models.CharField(max_length=100, primary_key=True)
    holder = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField()
    renewed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder or 'nobody'} until {self.expires_at:%H:%M:%S}"


class QueuedSingleton(models.Model):
    """A singleton job that is queued and has not started yet: at most one per key
    (lms/jobs/singleton.py). The job deletes its row as it starts, so a change made while it
    runs queues exactly one more."""

    key = models.CharField(max_length=200, primary_key=True, help_text="e.g. course-progress:<course id>")
    task_id = models.CharField(max_length=255, blank=True, help_text="The queued job's task id")
    queued_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.key} queued as {self.task_id} at {self.queued_at:%H:%M:%S}"
