"""Schedules in local time: a crontab an admin sets in Europe/Paris runs exactly once per local
day across both daylight-saving changes, at that local time (simulated clock, time-machine,
through django-celery-beat's own schedule entries, last run stored in the database)."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from django_celery_beat.schedulers import ModelEntry

from lms.celery import app

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
# 2026: clocks go 02:00 CET -> 03:00 CEST on 29 March, 03:00 CEST -> 02:00 CET on 25 October.
SPRING = datetime(2026, 3, 28, 12, tzinfo=UTC)
FALL = datetime(2026, 10, 24, 12, tzinfo=UTC)
# The simulated beat ticks every 2 minutes (a real one every few seconds): the ticks land on the
# crontabs' minutes, so the runs are those of a real beat, at a quarter of the database reads.
TICK = timedelta(minutes=2)


def runs_between(start: datetime, days: int, *, minute: str, hour: str) -> list[datetime]:
    """When beat would send a Paris crontab from `start` for `days` days: each tick reads the
    entry from the database (as after a restart) and, when due, stores the run, as beat does."""
    crontab = CrontabSchedule.objects.create(minute=minute, hour=hour, timezone="Europe/Paris")
    task = PeriodicTask.objects.create(
        name=f"paris-{minute}-{hour}-{start:%m}", task="lms.users.tasks.cleanup_expired_tokens", crontab=crontab,
        last_run_at=start,
    )  # fmt: skip
    runs = []
    now = start
    with time_machine.travel(start, tick=False) as clock:
        while now < start + timedelta(days=days):
            entry = ModelEntry(PeriodicTask.objects.get(pk=task.pk), app=app)
            if entry.is_due().is_due:
                runs.append(now.astimezone(PARIS))
                next(entry).save()
            now += TICK
            clock.move_to(now)
    return runs


@pytest.mark.parametrize("start", [SPRING, FALL], ids=["spring-forward", "fall-back"])
def test_a_paris_crontab_runs_at_its_local_time_once_a_day_across_the_change(start):
    runs = runs_between(start, 3, minute="0", hour="9")

    # once per local day, at 09:00 local time before and after the change (not UTC's 08:00/07:00)
    assert [run.strftime("%Y-%m-%d %H:%M") for run in runs] == [
        f"{(start + timedelta(days=d)).astimezone(PARIS):%Y-%m-%d} 09:00" for d in range(1, 4)
    ]


def test_a_time_that_does_not_exist_on_the_spring_day_runs_once_an_hour_later():
    runs = runs_between(SPRING, 3, minute="30", hour="2")

    per_day = Counter(run.date().isoformat() for run in runs)
    assert per_day == {"2026-03-29": 1, "2026-03-30": 1, "2026-03-31": 1}
    # 02:30 does not exist on 29 March (02:00 -> 03:00): it runs at 03:30 CEST, once
    assert [run.strftime("%d %H:%M %Z") for run in runs] == ["29 03:30 CEST", "30 02:30 CEST", "31 02:30 CEST"]


def test_a_time_that_happens_twice_on_the_autumn_day_runs_once():
    runs = runs_between(FALL, 3, minute="30", hour="2")

    per_day = Counter(run.date().isoformat() for run in runs)
    assert per_day == {"2026-10-25": 1, "2026-10-26": 1, "2026-10-27": 1}
    # 02:30 happens in CEST and again in CET on 25 October: only the first sends
    assert [run.strftime("%d %H:%M %Z") for run in runs] == ["25 02:30 CEST", "26 02:30 CET", "27 02:30 CET"]
