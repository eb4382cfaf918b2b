"""Operations use cases of the project itself: the default periodic schedules.

Invariants:
- the schedules live in the database (django-celery-beat), where admins edit them; the code
  holds only their defaults (DESIGN.md, "Schedules");
- installing the defaults is idempotent and never overwrites a stored schedule: an admin's edit,
  its enabled flag and beat's last_run_at survive every re-run. Only `reset=True` puts the
  defaults back, and even then the run history (last_run_at, total_run_count) is kept;
- `manage.py migrate` installs the missing defaults after every run (schedules_install_after_migrate),
  so a new database lists them from its first start.
"""

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DefaultSchedule:
    name: str
    task: str
    description: str
    minute: str = "0"
    hour: str = "*"
    day_of_week: str = "*"
    day_of_month: str = "*"
    month_of_year: str = "*"
    # A run still waiting this long after it was due is dropped: the next one is on its way.
    expire_seconds: int | None = None
    # Set for a schedule finer than a crontab's minute: every this many seconds instead.
    every_seconds: int | None = None

    @property
    def crontab_fields(self) -> dict[str, str]:
        return {
            "minute": self.minute,
            "hour": self.hour,
            "day_of_week": self.day_of_week,
            "day_of_month": self.day_of_month,
            "month_of_year": self.month_of_year,
        }

    @property
    def cron(self) -> str:
        """The crontab in cron's own field order (minute hour day-of-month month day-of-week),
        as a person reads it; Celery's `crontab()` orders them differently."""
        return " ".join((self.minute, self.hour, self.day_of_month, self.month_of_year, self.day_of_week))

    def __str__(self) -> str:
        if self.every_seconds:
            return f"{self.name}: {self.task} every {self.every_seconds} s"
        return f"{self.name}: {self.task} at {self.cron} ({settings.CELERY_TIMEZONE})"


DEFAULT_SCHEDULES: tuple[DefaultSchedule, ...] = (
    DefaultSchedule(
        name="cleanup-expired-tokens",
        task="lms.users.tasks.cleanup_expired_tokens",
        description="Delete expired refresh tokens and their blacklist entries.",
        hour="3",
    ),
    DefaultSchedule(
        name="cleanup-unverified-users",
        task="lms.users.tasks.cleanup_unverified_users",
        description="Delete accounts still unverified UNVERIFIED_USER_MAX_DAYS after joining.",
        minute="30",
        hour="3",
    ),
    DefaultSchedule(
        name="generate-daily-analytics",
        task="enrollments.tasks.generate_daily_analytics",
        description="Yesterday's enrollment and completion figures.",
        hour="1",
    ),
    DefaultSchedule(
        name="generate-hourly-analytics",
        task="enrollments.tasks.generate_hourly_analytics",
        description="The last hour's enrollment and completion figures.",
        expire_seconds=60 * 60,
    ),
    DefaultSchedule(
        name="weekly-report",
        task="enrollments.tasks.generate_weekly_report",
        description="The weekly PDF report, e-mailed to staff.",
        hour="9",
        day_of_week="1",
    ),
    DefaultSchedule(
        name="monthly-archive",
        task="enrollments.tasks.monthly_archive",
        description="Archive notifications and task results older than ARCHIVE_RETENTION_DAYS, then delete them.",
        hour="0",
        day_of_month="1",
    ),
    DefaultSchedule(
        name="cleanup-stale-progress",
        task="enrollments.tasks.cleanup_stale_progress",
        description="Remove progress rows left behind by deleted lessons and enrollments.",
        hour="2",
    ),
    # Publishes jobs the broker missed at commit time (the dispatcher's outbox): without it
    # they would wait forever. Every minute; a sweep still waiting then is superseded.
    DefaultSchedule(
        name="dispatch-outbox",
        task="lms.tasks.dispatch_outbox",
        description="Publish queued jobs the broker did not take at commit time.",
        minute="*",
        expire_seconds=60,
    ),
    # Heals jobs left STARTED by a worker that died with their message lost (lms.jobs.stuck).
    DefaultSchedule(
        name="sweep-stuck-jobs",
        task="lms.tasks.sweep_stuck_jobs",
        description="Re-queue jobs whose worker died with them (STARTED past their time limit).",
        minute="*/5",
        expire_seconds=5 * 60,
    ),
    # Starts scheduled course announcements (within 15 s of send_at: API.md) and re-queues the
    # chunks of one whose workers stopped reporting; a tick still waiting after 10 s is dropped.
    DefaultSchedule(
        name="announcements-tick",
        task="notifications.tasks.announcements_tick",
        description="Start due scheduled announcements; re-queue stalled ones.",
        every_seconds=5,
        expire_seconds=10,
    ),
    # Celery's own: deletes expired rows of django-celery-results (CELERY_RESULT_EXPIRES).
    # Same name and time as django-celery-beat's built-in entry, so there is only ever one.
    DefaultSchedule(
        name="celery.backend_cleanup",
        task="celery.backend_cleanup",
        description="Delete task results older than CELERY_RESULT_EXPIRES.",
        hour="4",
        expire_seconds=12 * 60 * 60,
    ),
)


@dataclass
class ScheduleInstallResult:
    created: list[DefaultSchedule] = field(default_factory=list)
    reset: list[DefaultSchedule] = field(default_factory=list)
    kept: list[DefaultSchedule] = field(default_factory=list)


def _interval_for(default: DefaultSchedule) -> IntervalSchedule:
    fields = {"every": default.every_seconds, "period": IntervalSchedule.SECONDS}
    return IntervalSchedule.objects.filter(**fields).first() or IntervalSchedule.objects.create(**fields)


def _schedule_for(default: DefaultSchedule) -> CrontabSchedule | IntervalSchedule:
    if default.every_seconds:
        return _interval_for(default)
    fields = {**default.crontab_fields, "timezone": settings.CELERY_TIMEZONE}
    # filter().first(): an admin may have created the same crontab twice.
    return CrontabSchedule.objects.filter(**fields).first() or CrontabSchedule.objects.create(**fields)


def _apply_default(task: PeriodicTask, default: DefaultSchedule, crontab: CrontabSchedule | IntervalSchedule) -> None:
    task.task = default.task
    task.description = default.description
    task.crontab = task.interval = task.solar = task.clocked = None
    if isinstance(crontab, IntervalSchedule):
        task.interval = crontab
    else:
        task.crontab = crontab
    task.args, task.kwargs, task.headers = "[]", "{}", "{}"
    task.queue = task.exchange = task.routing_key = task.priority = None
    task.expires, task.expire_seconds = None, default.expire_seconds
    task.start_time, task.one_off, task.enabled = None, False, True


def schedule_defaults_install(*, reset: bool = False) -> ScheduleInstallResult:
    """Create every missing default schedule; with `reset`, also restore the existing ones."""
    result = ScheduleInstallResult()
    for default in DEFAULT_SCHEDULES:
        with transaction.atomic():
            crontab = _schedule_for(default)
            task = PeriodicTask.objects.select_for_update().filter(name=default.name).first()
            if task is None:
                task = PeriodicTask(name=default.name)
                _apply_default(task, default, crontab)
                try:
                    with transaction.atomic():
                        task.save()
                except IntegrityError:  # created concurrently: theirs stays
                    result.kept.append(default)
                    continue
                result.created.append(default)
            elif reset:
                _apply_default(task, default, crontab)
                task.save()
                result.reset.append(default)
            else:
                result.kept.append(default)
    logger.info(
        "Default schedules: %d created, %d reset, %d kept", len(result.created), len(result.reset), len(result.kept)
    )
    return result


def schedules_install_after_migrate(
    *, using: str, plan: list | None = None, stdout=None, verbosity: int = 1, **kwargs
) -> None:
    """post_migrate receiver: install the missing default schedules once `migrate` has run.

    Only after `migrate` itself (it passes a `plan`; `flush`, which sends the same signal, does
    not), only on the default database, and only once django-celery-beat's tables exist.
    """
    from django.db import DEFAULT_DB_ALIAS, connections

    if plan is None or using != DEFAULT_DB_ALIAS:
        return
    if PeriodicTask._meta.db_table not in connections[using].introspection.table_names():
        return  # `migrate` of another app only, before django-celery-beat's migrations
    result = schedule_defaults_install()
    if result.created and stdout is not None and verbosity >= 1:
        stdout.write(f"  Installed {len(result.created)} default schedule(s); staff edit them in admin.\n")
