"""Celery beat: the database scheduler behind a single-beat lock, and beat's heartbeat.

Only one beat may send periodic tasks at a time, or every task would run once per beat.
Every beat runs `LockedDatabaseScheduler` (CELERY_BEAT_SCHEDULER). On each tick it takes or
renews a lock in the broker's Redis (key `lms:beat:lock`, expiring after BEAT_LOCK_TIMEOUT
seconds unless renewed). The beat holding the lock schedules; any other beat stands by and asks
again every few seconds. The holder releases the lock when it shuts down; if it dies instead,
the lock expires. Whoever takes the lock over first re-reads every schedule from the database,
where the previous holder wrote `last_run_at` right after each send (CELERY_BEAT_SYNC_EVERY=1),
so a hand-over sends nothing twice.

The holder also writes the time of its last tick to `lms:beat:last_tick`, which
GET /api/health/ reports as beat's age.

With any other broker (RabbitMQ) the same lock is a lease row in the database
(lms/jobs/leases.py, name `lms:beat:lock`), taken and renewed the same way, and the lease's renewal
time is beat's last tick.
"""

import logging
import os
import socket
import uuid

import redis
from celery import signals
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler
from redis.exceptions import LockError, RedisError
from redis.lock import Lock

from lms.jobs.leases import DatabaseLock, lease_renewed_age

logger = logging.getLogger(__name__)

BEAT_LOCK_KEY = "lms:beat:lock"
BEAT_LAST_TICK_KEY = "lms:beat:last_tick"
# No Redis call made by beat or by the health check waits longer than this.
REDIS_TIMEOUT_SECONDS = 2.0
# How often a standby beat asks for the lock: a hand-over after a clean stop takes this long.
STANDBY_POLL_SECONDS = 2.0
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
BACKEND_CLEANUP = "celery.backend_cleanup"


def broker_redis(*, timeout: float = REDIS_TIMEOUT_SECONDS) -> redis.Redis | None:
    """A client for the broker's Redis database, or None when the broker is not Redis."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(REDIS_SCHEMES):
        return None
    return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)


def beat_last_tick_age(*, client: redis.Redis | None) -> float | None:
    """Seconds since the scheduling beat last ticked; None if no beat ever did. Without a Redis
    broker (client None) the holder's lease renewals are its ticks."""
    if client is None:
        return lease_renewed_age(BEAT_LOCK_KEY)
    value = client.get(BEAT_LAST_TICK_KEY)
    if value is None:
        return None
    return round(max(0.0, timezone.now().timestamp() - float(value)), 1)


class LockedDatabaseScheduler(DatabaseScheduler):
    """django-celery-beat's DatabaseScheduler that schedules only while holding the beat lock."""

    def __init__(self, *args, **kwargs):
        # Set before the parent's __init__, which already reads the schedule.
        self.lock_timeout = settings.BEAT_LOCK_TIMEOUT
        self._redis: redis.Redis | None = None
        self._lock: Lock | None = None
        self._holds_lock = False
        self._announced_standby = False
        # Names the holder in Redis (`GET lms:beat:lock`), unique even for two beats in one process.
        self._token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        super().__init__(*args, **kwargs)

    # --- Schedule -------------------------------------------------------------------------

    def install_default_entries(self, data):
        # The parent re-applies its celery.backend_cleanup entry at every start, undoing an
        # admin's edit of it. `manage.py setup_schedules` installs it; here only a missing one
        # is added, so results still expire where nobody ran that command.
        if PeriodicTask.objects.filter(name=BACKEND_CLEANUP).exists():
            return
        super().install_default_entries(data)

    def reserve(self, entry):
        # The parent's leaves the in-memory schedule holding the entry as it was before this
        # run (only the shared model learns of it), so a heap rebuilt from that schedule before
        # the next database read finds the entry due again: a schedule edited while beat ran
        # had its job sent twice, 24 ms apart. The schedule keeps the new entry instead (never
        # re-adding one the schedule no longer has, e.g. a disabled task).
        new_entry = super().reserve(entry)
        if self._schedule is not None and new_entry.name in self._schedule:
            self._schedule[new_entry.name] = new_entry
        return new_entry

    def is_due(self, entry):
        # An entry read before its latest run (its model's last run is newer than its own) is
        # judged by that run, wherever the stale copy came from (the heap, an older schedule).
        if entry.model.last_run_at != entry.last_run_at:
            entry = self.Entry(entry.model, app=self.app)
        return super().is_due(entry)

    def tick(self, *args, **kwargs):
        if not self._hold_lock():
            return min(self.max_interval, STANDBY_POLL_SECONDS)
        interval = super().tick(*args, **kwargs)
        self._record_tick()
        # Wake up in time to renew the lock before it expires.
        return min(interval, self.lock_timeout / 3)

    def close(self):
        try:
            super().close()
        finally:
            self._release_lock()

    # --- The lock -------------------------------------------------------------------------

    def _get_lock(self) -> "Lock | DatabaseLock":
        if self._lock is None:
            self._redis = broker_redis()
            if self._redis is None:
                logger.info("The broker is not Redis: the single-beat lock is a lease in the database.")
                self._lock = DatabaseLock(BEAT_LOCK_KEY, timeout=self.lock_timeout)
            else:
                # Not thread-local: the token must survive into close(), whichever thread calls it.
                self._lock = self._redis.lock(BEAT_LOCK_KEY, timeout=self.lock_timeout, thread_local=False)
        return self._lock

    def _hold_lock(self) -> bool:
        """Take or renew the lock; True while this beat may send tasks."""
        lock = self._get_lock()
        try:
            # owned(): a renewal that failed on a Redis error may have left the lock ours.
            if self._holds_lock or lock.owned():
                held = bool(lock.reacquire())
            else:
                held = lock.acquire(blocking=False, token=self._token)
        except LockError:  # expired and maybe taken by another beat
            held = False
        except (RedisError, DatabaseError) as exc:
            # Whether another beat took over cannot be known: stop sending until it can.
            logger.warning("Beat lock: its store did not answer (%s); not scheduling this tick.", exc)
            held = False
        if held and not self._holds_lock:
            logger.info("Beat lock %s acquired: this beat schedules.", BEAT_LOCK_KEY)
            self._reload_from_database()
            self._announced_standby = False
        elif not held and self._holds_lock:
            logger.warning("Beat lock %s lost: this beat stands by.", BEAT_LOCK_KEY)
            # Unsaved runs of ours must not overwrite what the new holder writes.
            self._dirty.clear()
            self._announced_standby = True
        elif not held and not self._announced_standby:
            logger.info("Another beat holds %s: this beat stands by.", BEAT_LOCK_KEY)
            self._announced_standby = True
        self._holds_lock = held
        return held

    def _reload_from_database(self):
        """Forget the in-memory schedule: the next tick reads every entry's last run anew."""
        self._dirty.clear()
        self._initial_read = True
        self._heap = None
        self.old_schedulers = None

    def _release_lock(self):
        if self._lock is None or not self._holds_lock:
            return
        self._holds_lock = False
        try:
            self._lock.release()
            logger.info("Beat lock %s released.", BEAT_LOCK_KEY)
        except (LockError, RedisError, DatabaseError) as exc:
            logger.warning("Beat lock %s not released (%s); it expires by itself.", BEAT_LOCK_KEY, exc)

    def _record_tick(self):
        if self._redis is None:
            return
        try:
            self._redis.set(BEAT_LAST_TICK_KEY, timezone.now().timestamp())
        except RedisError as exc:
            logger.warning("Could not record beat's tick: %s", exc)


@signals.beat_init.connect(dispatch_uid="lms.jobs.beat.refuse_unlocked_scheduler")
def refuse_unlocked_scheduler(sender=None, **kwargs):
    """Refuse to run beat with a scheduler that ignores the lock (any other than ours).

    Such a beat, started next to the real one, would send every periodic task a second time.
    """
    scheduler = getattr(sender, "scheduler", None)
    if scheduler is not None and not isinstance(scheduler, LockedDatabaseScheduler):
        raise SystemExit(
            f"Refusing to start beat with {type(scheduler).__module__}.{type(scheduler).__name__}: it "
            "ignores the single-beat lock. Start it as `celery -A lms beat` (or `-S django`); the scheduler "
            f"comes from CELERY_BEAT_SCHEDULER ({settings.CELERY_BEAT_SCHEDULER})."
        )
