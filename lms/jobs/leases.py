"""A lock with expiry in a database row, with the interface of redis-py's Lock.

Beat keeps its single-beat lock in the broker's Redis; with any other broker (RabbitMQ) it
keeps it here instead. Taking the lock is one conditional UPDATE ("mine, or expired"), so two
processes can never both hold it; the holder renews it on every tick and a dead holder's lease
simply expires.
"""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from redis.exceptions import LockError

from lms.models import Lease


class DatabaseLock:
    def __init__(self, name: str, *, timeout: float):
        self.name = name
        self.timeout = timedelta(seconds=timeout)
        self.token: str | None = None

    def _ensure_row(self) -> None:
        if Lease.objects.filter(name=self.name).exists():
            return
        now = timezone.now()
        try:
            with transaction.atomic():
                Lease.objects.create(name=self.name, holder="", expires_at=now, renewed_at=now)
        except IntegrityError:  # another process created it first
            pass

    def acquire(self, blocking: bool = False, token: str | None = None) -> bool:
        self.token = token
        self._ensure_row()
        now = timezone.now()
        taken = (
            Lease.objects.filter(name=self.name)
            .filter(Q(holder=self.token) | Q(expires_at__lt=now))
            .update(holder=self.token, expires_at=now + self.timeout, renewed_at=now)
        )
        return taken == 1

    def reacquire(self) -> bool:
        now = timezone.now()
        renewed = Lease.objects.filter(name=self.name, holder=self.token, expires_at__gte=now).update(
            expires_at=now + self.timeout, renewed_at=now
        )
        if not renewed:
            raise LockError("The lease expired or another process holds it.")
        return True

    def owned(self) -> bool:
        return Lease.objects.filter(name=self.name, holder=self.token, expires_at__gte=timezone.now()).exists()

    def release(self) -> None:
        if not Lease.objects.filter(name=self.name, holder=self.token).update(holder="", expires_at=timezone.now()):
            raise LockError("Cannot release a lease this process does not hold.")


def lease_renewed_age(name: str) -> float | None:
    """Seconds since the lease was last taken or renewed; None if it never was."""
    renewed_at = Lease.objects.filter(name=name).exclude(holder="").values_list("renewed_at", flat=True).first()
    if renewed_at is None:
        return None
    return round(max(0.0, (timezone.now() - renewed_at).total_seconds()), 1)
