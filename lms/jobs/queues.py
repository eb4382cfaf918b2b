"""What the operator's queues page (/admin/jobs/, lms.admin_jobs) shows, read in one place.

- per queue: the messages waiting in the broker and the age of the oldest, the workers
  consuming it (one `active_queues` broadcast), the outbox rows waiting for it;
- beat's last tick (lms.jobs.beat);
- per task over the last hour: succeeded / failed / retried, and the finished jobs per minute.

Works on Redis and RabbitMQ. The age of a waiting message comes from the `lms_published_at`
header every publish carries (lms.jobs.stamps). On Redis the oldest message is read in place (LINDEX: a
queue is a list, consumed from its tail); on RabbitMQ it is fetched unacknowledged and
requeued at once (RabbitMQ puts it back in its place, marked redelivered, which Celery ignores).
Every broker call is bounded by BROKER_TIMEOUT_SECONDS; a broker that does not answer is
reported as such, never raised.
"""

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from celery import states
from django.conf import settings
from django.db.models import Count, Min, Q
from django.db.models.functions import TruncMinute
from django.utils import timezone
from django_celery_results.models import TaskResult

from lms.jobs.stamps import PUBLISHED_AT_HEADER

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 2.0
WORKERS_TIMEOUT_SECONDS = 1.0
# The window of the per-task figures and of the chart, in minutes.
WINDOW_MINUTES = 60
# kombu's Redis transport keeps a queue's prioritised messages in lists named after it.
REDIS_PRIORITY_STEPS = (0, 3, 6, 9)
REDIS_PRIORITY_SEP = "\x06\x16"


@dataclass
class QueueRow:
    name: str
    waiting: int | None = None  # None: the broker did not answer
    oldest_age: float | None = None  # seconds; None when empty or unknown
    workers: list[str] = field(default_factory=list)
    outbox: int = 0
    outbox_oldest_age: float | None = None


@dataclass
class TaskRow:
    name: str
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    per_minute: list[tuple[int, int]] = field(default_factory=list)  # (succeeded, failed) per minute, oldest first
    failed_url: str = ""


def _declared_queues() -> list[str]:
    from lms.celery import app

    return [queue.name for queue in app.conf.task_queues or ()] or [settings.CELERY_TASK_DEFAULT_QUEUE]


def _age(published_at, now: float) -> float | None:
    try:
        return round(max(0.0, now - float(published_at)), 1)
    except (TypeError, ValueError):
        return None


def _redis_depths(url: str, queues: list[str]) -> dict[str, tuple[int, float | None]]:
    import redis

    client = redis.Redis.from_url(
        url, socket_connect_timeout=BROKER_TIMEOUT_SECONDS, socket_timeout=BROKER_TIMEOUT_SECONDS
    )
    now = time.time()
    result = {}
    for queue in queues:
        keys = [queue if pri == 0 else f"{queue}{REDIS_PRIORITY_SEP}{pri}" for pri in REDIS_PRIORITY_STEPS]
        pipe = client.pipeline()
        for key in keys:
            pipe.llen(key)
            pipe.lindex(key, -1)  # the tail: next to be consumed, so the oldest
        answers = pipe.execute()
        waiting = sum(answers[0::2])
        ages = []
        for raw in answers[1::2]:
            if raw is None:
                continue
            try:
                ages.append(_age(json.loads(raw).get("headers", {}).get(PUBLISHED_AT_HEADER), now))
            except (TypeError, ValueError, AttributeError):
                continue
        known = [age for age in ages if age is not None]
        result[queue] = (waiting, max(known) if known else None)
    return result


def _amqp_depths(url: str, queues: list[str]) -> dict[str, tuple[int, float | None]]:
    from kombu import Connection
    from kombu import Queue as KombuQueue

    result = {}
    now = time.time()
    with Connection(url, connect_timeout=BROKER_TIMEOUT_SECONDS) as connection:
        for queue in queues:
            channel = connection.channel()
            try:
                _, waiting, _consumers = channel.queue_declare(queue=queue, passive=True)
            except Exception:  # noqa: BLE001 - a queue not declared yet holds nothing
                result[queue] = (0, None)
                channel = None
                continue
            oldest = None
            if waiting:
                message = KombuQueue(queue, channel=channel).get(no_ack=False)
                if message is not None:
                    oldest = _age((message.headers or {}).get(PUBLISHED_AT_HEADER), now)
                    message.requeue()
            result[queue] = (waiting, oldest)
            channel.close()
    return result


def broker_queues() -> tuple[dict[str, tuple[int, float | None]], str]:
    """{queue: (waiting, age of the oldest)} and the broker's kind; {} if it did not answer."""
    from lms.celery import app

    url = app.conf.broker_url or settings.CELERY_BROKER_URL
    queues = _declared_queues()
    kind = "redis" if url.startswith(("redis://", "rediss://", "unix://")) else url.split("://", 1)[0]
    if url.startswith("memory://"):
        return {}, "none (jobs run inline)"
    try:
        if kind == "redis":
            return _redis_depths(url, queues), "Redis"
        return _amqp_depths(url, queues), "RabbitMQ" if kind.startswith("amqp") or kind == "pyamqp" else kind
    except Exception as exc:  # noqa: BLE001 - the page must render with the broker down
        logger.warning("Queues page: the broker did not answer: %s", exc)
        return {}, kind


def queue_consumers() -> dict[str, list[str]]:
    """{queue: [worker names consuming it]}: one broadcast, WORKERS_TIMEOUT_SECONDS at most."""
    from lms.celery import app

    try:
        replies = app.control.inspect(timeout=WORKERS_TIMEOUT_SECONDS).active_queues() or {}
    except Exception as exc:  # noqa: BLE001 - no workers known is an answer too
        logger.warning("Queues page: workers did not answer: %s", exc)
        return {}
    consumers: dict[str, list[str]] = {}
    for worker, queues in replies.items():
        for queue in queues or ():
            consumers.setdefault(queue.get("name"), []).append(worker)
    return {name: sorted(workers) for name, workers in consumers.items()}


def _route(task_name: str) -> str:
    route = settings.CELERY_TASK_ROUTES.get(task_name) or {}
    return route.get("queue") or settings.CELERY_TASK_DEFAULT_QUEUE


def outbox_by_queue(now: datetime) -> dict[str, tuple[int, float | None]]:
    from lms.models import OutboxMessage

    result: dict[str, tuple[int, float | None]] = {}
    for row in OutboxMessage.objects.values("task_name").annotate(n=Count("id"), oldest=Min("created_at")):
        queue = _route(row["task_name"])
        count, age = result.get(queue, (0, None))
        row_age = round((now - row["oldest"]).total_seconds(), 1)
        result[queue] = (count + row["n"], max(age or 0.0, row_age))
    return result


def queue_rows(now: datetime | None = None) -> tuple[list[QueueRow], str]:
    now = now or timezone.now()
    depths, broker = broker_queues()
    consumers = queue_consumers()
    outbox = outbox_by_queue(now)
    rows = []
    for name in _declared_queues():
        waiting, oldest = depths.get(name, (None, None))
        out, out_age = outbox.get(name, (0, None))
        rows.append(QueueRow(name, waiting, oldest, consumers.get(name, []), out, out_age))
    return rows, broker


def task_rows(*, now: datetime | None = None, failed_url: str = "") -> list[TaskRow]:
    """Per task, the last WINDOW_MINUTES: succeeded / failed / retried and the per-minute chart."""
    now = now or timezone.now()
    start = (now - timedelta(minutes=WINDOW_MINUTES)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    recent = TaskResult.objects.filter(date_done__gte=start)
    totals = recent.values("task_name").annotate(
        succeeded=Count("id", filter=Q(status=states.SUCCESS)),
        failed=Count("id", filter=Q(status=states.FAILURE)),
        # A job that was retried says so in its meta (LmsTask records `retries`), or is retrying now.
        retried=Count("id", filter=Q(status=states.RETRY) | Q(meta__regex=r'"retries": [1-9]')),
    )
    rows = {
        row["task_name"]: TaskRow(row["task_name"] or "?", row["succeeded"], row["failed"], row["retried"])
        for row in totals
    }
    minutes = {name: [[0, 0] for _ in range(WINDOW_MINUTES)] for name in rows}
    per_minute = (
        recent.filter(status__in=(states.SUCCESS, states.FAILURE))
        .annotate(minute=TruncMinute("date_done"))
        .values("task_name", "minute", "status")
        .annotate(n=Count("id"))
    )
    for row in per_minute:
        index = int((row["minute"] - start).total_seconds() // 60)
        if row["task_name"] in minutes and 0 <= index < WINDOW_MINUTES:
            minutes[row["task_name"]][index][0 if row["status"] == states.SUCCESS else 1] += row["n"]
    for name, row in rows.items():
        row.per_minute = [tuple(pair) for pair in minutes[name]]
        if failed_url:
            row.failed_url = f"{failed_url}?status__exact={states.FAILURE}&task_name__exact={name}"
    return sorted(rows.values(), key=lambda row: (-row.failed, row.name))


def throughput_svg(per_minute: list[tuple[int, int]], *, width: int = 300, height: int = 36) -> str:
    """A bar per minute (succeeded green, failed red on top), drawn as inline SVG: no assets."""
    peak = max((ok + bad for ok, bad in per_minute), default=0) or 1
    bar = width / max(len(per_minute), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="jobs finished per minute, last {len(per_minute)} minutes" class="lms-throughput">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#f8f8f8"/>',
    ]
    width_attr = f"{max(bar - 1, 1):.2f}"
    for index, (ok, bad) in enumerate(per_minute):
        x = round(index * bar, 2)
        ok_h = round(height * ok / peak, 2)
        bad_h = round(height * bad / peak, 2)
        minutes_ago = len(per_minute) - index - 1
        title = f"<title>{minutes_ago} min ago: {ok} succeeded, {bad} failed</title>"
        for count, y, h, colour in (
            (ok, height - ok_h, ok_h, "#2e7d32"),
            (bad, height - ok_h - bad_h, bad_h, "#c62828"),
        ):
            if count:
                parts.append(f'<rect x="{x}" y="{y}" width="{width_attr}" height="{h}" fill="{colour}">{title}</rect>')
    parts.append("</svg>")
    return "".join(parts)
