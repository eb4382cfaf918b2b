"""What GET /api/health/ reports: can we reach the database, the broker, workers and beat?

Every probe is bounded in time and catches its own failure, so a health check answers within
about two seconds whatever is down, and never with a 500.
"""

import logging

from django.conf import settings
from django.db import connection
from kombu import Connection

from lms.celery import app
from lms.jobs.beat import beat_last_tick_age, broker_redis

logger = logging.getLogger(__name__)

# Each probe's budget. The worker ping waits its whole timeout for replies, so it sets the
# usual response time of the endpoint.
BROKER_TIMEOUT_SECONDS = 1.0
WORKER_PING_TIMEOUT_SECONDS = 0.5

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
    """How many workers answer a ping; None when that cannot be asked."""
    try:
        return len(app.control.ping(timeout=WORKER_PING_TIMEOUT_SECONDS) or [])
    except Exception as exc:  # noqa: BLE001
        logger.warning("Health: could not ping workers: %s", exc)
        return None


def beat_age() -> float | None:
    """Seconds since the scheduling beat last ticked; None if never, or when it cannot be read."""
    try:
        return beat_last_tick_age(client=broker_redis(timeout=BROKER_TIMEOUT_SECONDS))
    except Exception as exc:  # noqa: BLE001
        logger.warning("Health: could not read beat's last tick: %s", exc)
        return None


def health_report() -> dict:
    broker = broker_status()
    reachable = broker == OK
    return {
        "database": database_status(),
        "broker": broker,
        "workers": live_workers() if reachable else None,
        "beat": beat_age() if reachable else None,
    }
