"""What GET /api/health/ reports: can we reach the database, the broker, workers and beat?

Every probe is bounded in time and catches its own failure, so a health check answers within
about two seconds whatever is down, and never with a 500.

The public endpoint answers from the shared cache (`health_report_cached`): the report is
computed at most once per HEALTH_CACHE_SECONDS across all web processes (one refresher at a
time, under a lock in the cache; the others serve the last answer meanwhile), so no caller can
make the checks, least of all a broadcast to workers, run more often however hard it polls.

Workers are counted without a broadcast where the broker is Redis: every worker refreshes a key
`lms:worker-alive:<hostname>` every WORKER_HEARTBEAT_SECONDS from its own timer (the
WorkerHeartbeat bootstep, added in lms/celery.py), and the count is the number of keys still
alive. A busy worker's main loop still runs its timer, so the count stays right under load,
where a 0.5 s ping missed replies. Other brokers fall back to a ping.
"""

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from kombu import Connection

from lms.celery import app
from lms.jobs.beat import beat_last_tick_age, broker_redis
from lms.jobs.heartbeat import WORKER_ALIVE_PREFIX

logger = logging.getLogger(__name__)

# Each probe's budget. The worker ping waits its whole timeout for replies, so it sets the
# usual response time of the endpoint.
BROKER_TIMEOUT_SECONDS = 1.0
WORKER_PING_TIMEOUT_SECONDS = 1.0

# The public answer is at most this old; the last one is kept longer, to be served while one
# process refreshes it (a refresh never takes longer than REFRESH_LOCK_SECONDS: every probe is
# bounded). A caller finding no answer at all waits up to FIRST_ANSWER_WAIT_SECONDS for the
# refresher's before computing one without the worker count.
HEALTH_CACHE_SECONDS = 5.0
HEALTH_KEEP_SECONDS = 120
REFRESH_LOCK_SECONDS = 10
FIRST_ANSWER_WAIT_SECONDS = 3.0
HEALTH_CACHE_KEY = "health:report"
HEALTH_LOCK_KEY = "health:refreshing"

OK, ERROR, NOT_CONFIGURED = "ok", "error", "not configured"


def database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "not answering"
        logger.warning("Health: database not answering: %s", exc)
        return ERROR
    return OK


def broker_status() -> str:
    url = settings.CELERY_BROKER_URL
    if url.startswith("memory://"):
        return NOT_CONFIGURED
    try:
        client = broker_redis(timeout=BROKER_TIMEOUT_SECONDS)
        if client is not None:
            client.ping()
        else:
            with Connection(url, connect_timeout=BROKER_TIMEOUT_SECONDS) as conn:
                conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        logger.warning("Health: broker not reachable: %s", exc)
        return ERROR
    return OK


def live_workers() -> int | None:
    """How many workers are alive (heartbeat keys on a Redis broker, else a ping); None when
    that cannot be asked."""
    try:
        client = broker_redis(timeout=BROKER_TIMEOUT_SECONDS)
        if client is not None:
            return sum(1 for _ in client.scan_iter(match=f"{WORKER_ALIVE_PREFIX}*", count=1000))
        return len(app.control.ping(timeout=WORKER_PING_TIMEOUT_SECONDS) or [])
    except Exception as exc:  # noqa: BLE001
        logger.warning("Health: could not count workers: %s", exc)
        return None


def beat_age() -> float | None:
    """Seconds since the scheduling beat last ticked; None if never, or when it cannot be read."""
    try:
        return beat_last_tick_age(client=broker_redis(timeout=BROKER_TIMEOUT_SECONDS))
    except Exception as exc:  # noqa: BLE001
        logger.warning("Health: could not read beat's last tick: %s", exc)
        return None


def health_report(*, count_workers: bool = True) -> dict:
    broker = broker_status()
    reachable = broker == OK
    return {
        "database": database_status(),
        "broker": broker,
        "workers": live_workers() if reachable and count_workers else None,
        "beat": beat_age() if reachable else None,
    }


def health_report_cached() -> dict:
    """The public answer: `health_report()` at most HEALTH_CACHE_SECONDS old, computed by one
    process at a time whoever asks and however often."""
    entry = cache.get(HEALTH_CACHE_KEY)
    if entry is not None and time.time() - entry["at"] < HEALTH_CACHE_SECONDS:
        return entry["report"]
    if cache.add(HEALTH_LOCK_KEY, 1, timeout=REFRESH_LOCK_SECONDS):
        try:
            # Another process may have refreshed it between our read and taking the lock.
            fresh = cache.get(HEALTH_CACHE_KEY)
            if fresh is not None and time.time() - fresh["at"] < HEALTH_CACHE_SECONDS:
                return fresh["report"]
            report = health_report()
            cache.set(HEALTH_CACHE_KEY, {"report": report, "at": time.time()}, timeout=HEALTH_KEEP_SECONDS)
        finally:
            cache.delete(HEALTH_LOCK_KEY)
        return report
    if entry is not None:  # another process is refreshing it: the last answer meanwhile
        return entry["report"]
    deadline = time.monotonic() + FIRST_ANSWER_WAIT_SECONDS
    # Wait for the refresher's answer while its lock is there; no lock and no answer means the
    # cache is not answering (lms.cache fails open): then compute it here, without waiting.
    while time.monotonic() < deadline and cache.get(HEALTH_LOCK_KEY) is not None:
        time.sleep(0.05)
        entry = cache.get(HEALTH_CACHE_KEY)
        if entry is not None:
            return entry["report"]
    # The refresher may have stored its answer and let go of the lock since the first read.
    entry = cache.get(HEALTH_CACHE_KEY)
    if entry is not None:
        return entry["report"]
    # The refresher is stuck, or the cache is down: answer without the costly part.
    return health_report(count_workers=False)
