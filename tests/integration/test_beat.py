"""Beat on real processes: schedules from the database fire on a worker; one beat at a time."""

import json
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_results.models import TaskResult
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from tests.factories import UserFactory
from tests.processes import ROOT, beat_sends, process_env, start_beat, wait_for

pytestmark = pytest.mark.integration

TOKENS_TASK = "lms.users.tasks.cleanup_expired_tokens"


def every(seconds: int) -> IntervalSchedule:
    schedule, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
    return schedule


def successes(schedule_name: str) -> int:
    return TaskResult.objects.filter(periodic_task_name=schedule_name, status="SUCCESS").count()


def test_interval_schedule_in_the_database_fires_on_the_worker_and_its_result_is_stored(start_beats, api_client):
    # given an expired refresh token and a schedule running the token clean-up every 2 seconds
    user = UserFactory()
    yesterday = timezone.now() - timedelta(days=1)
    OutstandingToken.objects.create(user=user, jti="expired-1", token="x", expires_at=yesterday)
    PeriodicTask.objects.create(name="tokens-every-2s", task=TOKENS_TASK, interval=every(2))

    # when beat runs
    (beat,) = start_beats("beat")

    # then the worker ran the task, and its SUCCESS, with the summary, is in the result store
    result = wait_for(
        lambda: TaskResult.objects.filter(periodic_task_name="tokens-every-2s", status="SUCCESS").first(),
        timeout=30,
        what="a SUCCESS result of the scheduled task",
    )
    assert result.task_name == TOKENS_TASK
    assert json.loads(result.result) == {"tokens_deleted": 1, "blacklist_entries_deleted": 0}
    assert not OutstandingToken.objects.filter(jti="expired-1").exists()
    # and beat wrote its run back to the schedule
    wait_for(lambda: PeriodicTask.objects.get(name="tokens-every-2s").total_run_count >= 1, what="total_run_count")
    # and the health check sees the worker and a beat that ticked moments ago
    health = api_client.get("/api/health/").json()
    assert health["workers"] >= 1
    assert health["beat"] is not None and health["beat"] < 10
    assert "acquired" in beat.log()


def test_two_beats_started_at_once_send_each_run_once(start_beats):
    # given a schedule every second
    PeriodicTask.objects.create(name="tokens-every-1s", task=TOKENS_TASK, interval=every(1))

    # when two beats are started at the same moment and run for a while
    first, second = start_beats("beat-a", "beat-b")
    window = 5.0
    time.sleep(window)
    # (counted before stopping them: once the holder stops, the other rightly takes over)
    sends = sorted([beat_sends(first, "tokens-every-1s"), beat_sends(second, "tokens-every-1s")])
    standby = first if beat_sends(first, "tokens-every-1s") == 0 else second
    first.stop()
    second.stop()

    # then only one of them sent anything; the other stood by
    assert sends[0] == 0, (first.log(), second.log())
    assert "stands by" in standby.log()
    # and the runs are one beat's worth: about one a second, not two
    assert 3 <= sends[1] <= window + 2
    total = beat_sends(first, "tokens-every-1s") + beat_sends(second, "tokens-every-1s")
    wait_for(lambda: successes("tokens-every-1s") == total, timeout=20, what="every sent run to finish")


def test_standby_beat_takes_over_when_the_holder_dies_and_keeps_the_schedule(start_beats):
    # given a task every 5 seconds, due now, and a beat (with a 2-second lock) that sent it
    last_run = timezone.now() - timedelta(seconds=5)
    task = PeriodicTask.objects.create(
        name="tokens-every-5s", task=TOKENS_TASK, interval=every(5), last_run_at=last_run
    )
    locked_briefly = {"BEAT_LOCK_TIMEOUT": "2"}
    (holder,) = start_beats("holder", env_overrides=locked_briefly)
    wait_for(lambda: beat_sends(holder, "tokens-every-5s") == 1, what="the holder's first send")
    # and a second beat that loaded the schedule then, and stood by while the holder sent again
    (standby,) = start_beats("standby", env_overrides=locked_briefly)
    standby.wait_log("stands by")
    wait_for(
        lambda: PeriodicTask.objects.get(pk=task.pk).total_run_count == 2,
        timeout=15,
        what="the holder's second send, saved",
    )
    task.refresh_from_db()
    holder_sent_at = task.last_run_at

    # when the holder is killed outright, with no chance to release the lock
    holder.signal(signal.SIGKILL)
    holder.proc.wait(timeout=10)

    # then the standby takes the lock over once it expires
    standby.wait_log("acquired: this beat schedules", timeout=15)
    # and goes on from the holder's last send, not from its own stale copy: no early repeat
    new_sent_at = wait_for(
        lambda: (sent_at := PeriodicTask.objects.get(pk=task.pk).last_run_at) != holder_sent_at and sent_at,
        what="the new holder to save its send",
    )
    assert (new_sent_at - holder_sent_at).total_seconds() >= 4.5, standby.log()
    assert beat_sends(holder, "tokens-every-5s") + beat_sends(standby, "tokens-every-5s") == 3


def test_beat_started_with_s_django_still_schedules_behind_the_lock(live_worker, tmp_path):
    # when beat is started the way DESIGN.md writes it, `celery -A lms beat -S django`
    beat = start_beat(name="beat-s-django", tmp_dir=tmp_path, extra_args=("-S", "django"))
    try:
        # then it runs the locked database scheduler (it takes the single-beat lock)
        beat.wait_log("acquired: this beat schedules", timeout=20)
        assert "LockedDatabaseScheduler" in beat.log()
    finally:
        beat.stop()


def test_beat_refuses_a_scheduler_that_ignores_the_lock(live_worker, tmp_path):
    # when beat is started with a scheduler that knows nothing of the lock
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "lms", "beat", "-S", "celery.beat:PersistentScheduler",
         "-s", str(tmp_path / "schedule")],
        cwd=ROOT,
        env=process_env(mail_dir=tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip

    # then it refuses to run, and says how to start it
    assert result.returncode != 0
    assert "Refusing to start beat" in result.stdout + result.stderr
    assert "celery -A lms beat" in result.stdout + result.stderr
