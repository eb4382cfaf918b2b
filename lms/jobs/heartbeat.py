"""Worker liveness without a broadcast: each worker keeps a key alive in the broker's Redis.

WorkerHeartbeat is a worker bootstep (lms/celery.py adds it to every worker by name, so this
module is imported only by workers and never needs Django's models). It sets
`lms:worker-alive:<hostname>` every WORKER_HEARTBEAT_SECONDS from the worker's own timer, off
any task, with a time to live of WORKER_ALIVE_SECONDS, and deletes it on a clean stop; the
health check counts the keys (lms/jobs/health.py). A killed worker drops out of the count
within WORKER_ALIVE_SECONDS. Without a Redis broker it does nothing (health pings instead).
"""

import logging
import time

import redis
from celery import bootsteps
from django.conf import settings

logger = logging.getLogger(__name__)

WORKER_HEARTBEAT_SECONDS = 5.0
WORKER_ALIVE_SECONDS = 15
WORKER_ALIVE_PREFIX = "lms:worker-alive:"
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
REDIS_TIMEOUT_SECONDS = 1.0


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Worker bootstep: keep `lms:worker-alive:<hostname>` alive in the broker's Redis while the
    worker runs (from the worker's timer, off any task), and delete it on a clean stop."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.timer_ref = None
        self.client = None

    def start(self, parent):
        self.client = self._client()  # one connection pool for the worker's lifetime
        self.beat(parent)
        self.timer_ref = parent.timer.call_repeatedly(WORKER_HEARTBEAT_SECONDS, self.beat, (parent,), priority=10)

    def stop(self, parent):
        if self.timer_ref is not None:
            self.timer_ref.cancel()
            self.timer_ref = None
        if self.client is not None:
            try:
                self.client.delete(WORKER_ALIVE_PREFIX + parent.hostname)
            except Exception as exc:  # noqa: BLE001
                logger.warning("Heartbeat: could not remove the alive key: %s", exc)

    def beat(self, parent):
        if self.client is None:
            return
        try:
            self.client.set(WORKER_ALIVE_PREFIX + parent.hostname, time.time(), ex=WORKER_ALIVE_SECONDS)
        except Exception as exc:  # noqa: BLE001 - the next beat tries again
            logger.warning("Heartbeat: could not refresh the alive key: %s", exc)

    @staticmethod
    def _client() -> redis.Redis | None:
        url = settings.CELERY_BROKER_URL
        if not url.startswith(REDIS_SCHEMES):
            return None
        return redis.Redis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
        )
