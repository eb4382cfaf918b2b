"""System checks for the background-job setup (`manage.py check`), ids lms.W001-lms.W005.

- W001 Redis visibility timeout not above the longest retry delay plus the longest time limit
  (a retried job stays unacknowledged while it waits, then while it runs);
- W002 Celery and Django disagree on the time zone;
- W003 a task route (or the default queue) names a queue that is not declared;
- W004 an enabled periodic task names a task no code registers (database check: run with
  `check --database default`; `migrate` runs it too);
- W005 Flower has no credentials outside DEBUG (deployment check: `check --deploy`).
"""

from django.conf import settings
from django.core.checks import Tags, register
from django.core.checks import Warning as CheckWarning
from django.db import DatabaseError, connections

from lms.jobs.flower import flower_credentials_problem

# kombu's own default for the Redis and SQS transports.
KOMBU_DEFAULT_VISIBILITY_TIMEOUT = 60 * 60
VISIBILITY_TIMEOUT_SCHEMES = ("redis://", "rediss://", "sentinel://", "sqs://")


def _celery_app():
    from lms.celery import app

    return app


def _task_delays(app) -> tuple[list[tuple[int | float, str]], list[tuple[int | float, str]]]:
    """Every time limit and every retry delay in use, as lists of (seconds, what) pairs."""
    limits = [(settings.TASK_MAX_DELAY_SECONDS, "TASK_MAX_DELAY_SECONDS")]
    delays = [(0, "no retry")]
    for name, task in sorted(app.tasks.items()):
        for attribute, default in (
            ("time_limit", app.conf.task_time_limit),
            ("soft_time_limit", app.conf.task_soft_time_limit),
        ):
            seconds = getattr(task, attribute, None) or default
            if seconds:
                limits.append((seconds, f"{name} {attribute}"))
        if getattr(task, "autoretry_for", None) and getattr(task, "retry_backoff", False):
            delays.append((task.retry_backoff_max, f"{name} retry_backoff_max"))
        else:  # also the delay of a retry after a lost worker (task_retry_on_worker_lost)
            delays.append((task.default_retry_delay, f"{name} default_retry_delay"))
    return limits, delays


@register("celery")
def check_visibility_timeout(app_configs=None, **kwargs):
    if not settings.CELERY_BROKER_URL.startswith(VISIBILITY_TIMEOUT_SCHEMES):
        return []
    transport_options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    visibility = transport_options.get("visibility_timeout", KOMBU_DEFAULT_VISIBILITY_TIMEOUT)
    limits, delays = _task_delays(_celery_app())
    limit, limit_what = max(limits, key=lambda pair: pair[0])
    delay, delay_what = max(delays, key=lambda pair: pair[0])
    seconds, what = limit + delay, f"{delay_what} ({delay} s) plus {limit_what} ({limit} s)"
    if visibility > seconds:
        return []
    return [
        CheckWarning(
            f"The broker's visibility_timeout ({visibility} s) is not longer than {what}: the broker "
            "would hand a job that is still waiting to retry, or running, to a second worker.",
            hint=f"Set CELERY_VISIBILITY_TIMEOUT above {seconds} seconds, or shorten that limit.",
            id="lms.W001",
        )
    ]


@register("celery")
def check_timezones(app_configs=None, **kwargs):
    celery_tz = getattr(settings, "CELERY_TIMEZONE", None)
    if celery_tz is None or celery_tz == settings.TIME_ZONE:
        return []
    return [
        CheckWarning(
            f"CELERY_TIMEZONE ({celery_tz}) differs from TIME_ZONE ({settings.TIME_ZONE}): a crontab edited "
            "in admin would run at a different hour than the one shown next to it.",
            hint="Set CELERY_TIMEZONE = TIME_ZONE.",
            id="lms.W002",
        )
    ]


def _routes(routes) -> list[tuple[str, object]]:
    """(pattern, queue) of every route given as a mapping; routers given as code are skipped."""
    if isinstance(routes, dict):
        routes = [routes]
    found = []
    for router in routes or ():
        if not isinstance(router, dict):
            continue
        for pattern, route in router.items():
            if isinstance(route, dict) and route.get("queue") is not None:
                found.append((pattern, route["queue"]))
    return found


@register("celery")
def check_routes_name_declared_queues(app_configs=None, **kwargs):
    queues = getattr(settings, "CELERY_TASK_QUEUES", None)
    if not queues:
        return []  # Celery creates queues on demand: nothing to compare with
    declared = {queue.name for queue in queues}
    hint = "Declare it in CELERY_TASK_QUEUES (and start a worker with -Q for it), or route to one of: " + ", ".join(
        sorted(declared)
    )
    warnings = []
    default_queue = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")
    if default_queue not in declared:
        warnings.append(
            CheckWarning(
                f"CELERY_TASK_DEFAULT_QUEUE names the undeclared queue {default_queue!r}.", hint=hint, id="lms.W003"
            )
        )
    for pattern, queue in _routes(getattr(settings, "CELERY_TASK_ROUTES", None)):
        name = getattr(queue, "name", queue)
        if name not in declared:
            warnings.append(
                CheckWarning(
                    f"Task route {pattern!r} names the undeclared queue {name!r}: its jobs would fail to send.",
                    hint=hint,
                    obj=pattern,
                    id="lms.W003",
                )
            )
    return warnings


@register(Tags.database)
def check_periodic_tasks_are_registered(app_configs=None, databases=None, **kwargs):
    if not databases:
        return []
    from django_celery_beat.models import PeriodicTask

    registered = set(_celery_app().tasks.keys())
    warnings = []
    for alias in databases:
        try:
            if PeriodicTask._meta.db_table not in connections[alias].introspection.table_names():
                continue  # not migrated yet: nothing stored to check
            stored = list(
                PeriodicTask.objects.using(alias).filter(enabled=True).order_by("name").values_list("name", "task")
            )
        except DatabaseError:  # not reachable: other checks and commands say so
            continue
        warnings.extend(
            CheckWarning(
                f"Periodic task {name!r} runs {task!r}, which no code registers: every run would fail.",
                hint="Fix or disable it in Django admin (Periodic tasks), or deploy the code that defines it.",
                obj=name,
                id="lms.W004",
            )
            for name, task in stored
            if task not in registered
        )
    return warnings


@register(Tags.security, deploy=True)
def check_flower_credentials(app_configs=None, **kwargs):
    if settings.DEBUG:
        return []
    problem = flower_credentials_problem(getattr(settings, "FLOWER_BASIC_AUTH", ""))
    if problem is None:
        return []
    return [
        CheckWarning(
            f"{problem}: Flower refuses to start without credentials outside DEBUG.",
            hint="Set FLOWER_BASIC_AUTH=user:long-random-password in the environment of the flower process.",
            id="lms.W005",
        )
    ]
