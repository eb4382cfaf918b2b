"""Edits of a Paris schedule reach a running beat (production loop interval) within 5 s: a
crontab changed in place, a task switched to another time, a task enabled."""

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from tests.processes import beat_sends, start_beat, wait_for

pytestmark = pytest.mark.integration

PARIS = ZoneInfo("Europe/Paris")
TOKENS = "lms.users.tasks.cleanup_expired_tokens"
BOUND_SECONDS = 5.0


def paris_crontab(at: datetime) -> CrontabSchedule:
    local = at.astimezone(PARIS)
    return CrontabSchedule.objects.create(minute=str(local.minute), hour=str(local.hour), timezone="Europe/Paris")


def away_from_a_minute_boundary() -> datetime:
    """Now, at least 12 s before the next minute, so "this minute" holds for the whole edit."""
    if timezone.now().second >= 48:
        time.sleep(61 - timezone.now().second)
    return timezone.now()


def sent_within(beat, name: str, *, after: float, seconds: float) -> float:
    """Seconds from `after` (monotonic) until beat sent `name`; fails past `seconds`."""
    wait_for(lambda: beat_sends(beat, name) >= 1, timeout=seconds, interval=0.05, what=f"beat to send {name}")
    return time.monotonic() - after


def test_edits_of_a_paris_schedule_reach_the_running_beat_within_5_seconds(live_worker, beat_redis, tmp_path):
    # given Paris schedules due in three hours, last run two minutes ago, and a running beat
    # with the production loop interval (CELERY_BEAT_MAX_LOOP_INTERVAL)
    now = timezone.now()
    later = now + timedelta(hours=3)
    ran = now.replace(second=0, microsecond=0) - timedelta(minutes=2)
    in_place = PeriodicTask.objects.create(name="paris-in-place", task=TOKENS, crontab=paris_crontab(later),
                                           last_run_at=ran)  # fmt: skip
    switched = PeriodicTask.objects.create(name="paris-switched", task=TOKENS, crontab=paris_crontab(later),
                                           last_run_at=ran)  # fmt: skip
    enabled = PeriodicTask.objects.create(name="paris-enabled", task=TOKENS, crontab=paris_crontab(later),
                                          enabled=False)  # fmt: skip
    beat = start_beat(name="beat", tmp_dir=tmp_path, max_interval=None)
    try:
        beat.wait_log("acquired: this beat schedules")
        time.sleep(3)
        assert beat_sends(beat, "paris-in-place") == beat_sends(beat, "paris-switched") == 0

        # when the in-place crontab is changed to this very minute (Paris time)
        local = away_from_a_minute_boundary().astimezone(PARIS)
        crontab = in_place.crontab
        crontab.minute, crontab.hour = str(local.minute), str(local.hour)
        edited = time.monotonic()
        crontab.save()
        # then beat sends it within the bound
        in_place_latency = sent_within(beat, "paris-in-place", after=edited, seconds=BOUND_SECONDS)

        # when another task is switched to a crontab of this minute
        now = away_from_a_minute_boundary()
        switched.crontab = paris_crontab(now)
        edited = time.monotonic()
        switched.save()
        switched_latency = sent_within(beat, "paris-switched", after=edited, seconds=BOUND_SECONDS)

        # when a disabled task set for the next minute is enabled a few seconds before it
        next_minute = (timezone.now() + timedelta(minutes=1)).replace(second=0, microsecond=0)
        enabled.crontab = paris_crontab(next_minute)
        enabled.save()  # still disabled
        time.sleep(max(0.0, (next_minute - timezone.now()).total_seconds() - 8))
        enabled.enabled = True
        enabled.save()
        due_in = (next_minute - timezone.now()).total_seconds()
        edited = time.monotonic()
        # then it is sent at its time, within the bound after it fell due
        enabled_latency = sent_within(beat, "paris-enabled", after=edited, seconds=due_in + BOUND_SECONDS) - due_in
        print(
            f"edit -> send: crontab in place {in_place_latency:.2f}s, switched {switched_latency:.2f}s, "
            f"enabled {enabled_latency:.2f}s after due (bound {BOUND_SECONDS:.0f}s)"
        )
        assert beat_sends(beat, "paris-in-place") == 1 and beat_sends(beat, "paris-switched") == 1
    finally:
        beat.stop()
