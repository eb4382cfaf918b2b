"""The single-beat lock, in-process: only the holder sends; a new holder starts from the database.

Schedulers here are real LockedDatabaseScheduler objects on the test database and the broker's
Redis. Their schedules name a task no worker knows, so a worker that happens to be consuming
the broker discards what they send.
"""

import time
from datetime import timedelta

import pytest
import redis
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from lms.celery import app
from lms.jobs.beat import (
    BEAT_LAST_TICK_KEY,
    BEAT_LOCK_KEY,
    STANDBY_POLL_SECONDS,
    LockedDatabaseScheduler,
    beat_last_tick_age,
    refuse_unlocked_scheduler,
)
from lms.models import Lease
from tests.processes import broker_url, wait_for

# close_old_connections() in the scheduler would end a test transaction: commit for real.
pytestmark = pytest.mark.django_db(transaction=True)

PROBE_TASK = "tests.beat_probe"


@pytest.fixture
def broker_redis(settings):
    settings.CELERY_BROKER_URL = broker_url()
    client = redis.Redis.from_url(broker_url())
    client.delete(BEAT_LOCK_KEY, BEAT_LAST_TICK_KEY)
    yield client
    client.delete(BEAT_LOCK_KEY, BEAT_LAST_TICK_KEY)


@pytest.fixture
def schedulers(broker_redis):
    made = []

    def make() -> LockedDatabaseScheduler:
        scheduler = LockedDatabaseScheduler(app=app)
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        scheduler.close()


def hourly_probe(*, last_run_hours_ago: float) -> PeriodicTask:
    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.HOURS)
    return PeriodicTask.objects.create(
        name="probe",
        task=PROBE_TASK,
        interval=hourly,
        last_run_at=timezone.now() - timedelta(hours=last_run_hours_ago),
    )


def runs(task: PeriodicTask) -> int:
    task.refresh_from_db()
    return task.total_run_count


def last_sent(task: PeriodicTask):
    """When beat last sent it: every send writes last_run_at back (CELERY_BEAT_SYNC_EVERY = 1)."""
    task.refresh_from_db()
    return task.last_run_at


def test_only_the_scheduler_holding_the_lock_sends(schedulers, broker_redis):
    # given a due task and two beats' schedulers
    probe = hourly_probe(last_run_hours_ago=2)
    first, second = schedulers(), schedulers()

    # when both tick
    first.tick()
    waiting = second.tick()

    # then the first holds the lock and sent the task once; the second stood by
    assert broker_redis.get(BEAT_LOCK_KEY).decode() == first._token
    assert runs(probe) == 1
    assert waiting == STANDBY_POLL_SECONDS
    assert broker_redis.ttl(BEAT_LOCK_KEY) > 0  # it expires if its holder dies


def test_a_new_holder_reads_the_last_run_from_the_database_and_does_not_send_it_again(schedulers, broker_redis):
    # given two schedulers that both loaded a task due now, and the first sent it
    probe = hourly_probe(last_run_hours_ago=2)
    first, second = schedulers(), schedulers()
    first.tick()
    second.tick()
    sent_at = last_sent(probe)
    assert sent_at > timezone.now() - timedelta(minutes=1)

    # when the first stops (releasing the lock) and the second takes over
    first.close()
    for _ in range(3):
        second.tick()

    # then the second holds the lock and did not send the task again within the hour
    assert broker_redis.get(BEAT_LOCK_KEY).decode() == second._token
    assert last_sent(probe) == sent_at


def test_a_heap_rebuilt_from_memory_right_after_a_send_does_not_send_it_again(schedulers):
    # given a holder that read a task (added while it ran, as by an admin) and sent it
    scheduler = schedulers()
    scheduler.tick()  # takes the lock, nothing to send yet
    probe = hourly_probe(last_run_hours_ago=2)
    read_before_the_run = scheduler.Entry(PeriodicTask.objects.get(pk=probe.pk), app=app)
    scheduler.tick()
    assert runs(probe) == 1

    # when its heap is rebuilt from the in-memory schedule before the next database read (what
    # a schedule change between two ticks does)
    scheduler._heap = None
    for _ in range(3):
        scheduler.tick()

    # then the task was not sent again, and an entry read before the run is not due either
    assert runs(probe) == 1
    assert scheduler.schedule["probe"].last_run_at == last_sent(probe)
    assert read_before_the_run.is_due().is_due  # on its own stale record it would be
    read_before_the_run.model.last_run_at = last_sent(probe)  # as reserve() updates a shared model
    assert not scheduler.is_due(read_before_the_run).is_due


def test_a_holder_that_lost_its_lock_stops_sending(schedulers, broker_redis):
    # given a holder that sent a task due every second
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    probe = PeriodicTask.objects.create(name="probe", task=PROBE_TASK, interval=every_second)
    first = schedulers()
    wait_for(lambda: first.tick() is not None and runs(probe) == 1, timeout=5, what="the first send")
    sent_at = last_sent(probe)

    # when another beat holds the lock by the time the task is due again (e.g. this one was
    # paused past the lock's expiry)
    broker_redis.set(BEAT_LOCK_KEY, "another-beat")
    time.sleep(1.2)
    first.tick()

    # then it sent nothing more and left the lock alone
    assert last_sent(probe) == sent_at
    assert broker_redis.get(BEAT_LOCK_KEY) == b"another-beat"


def test_the_holder_records_its_tick_for_the_health_check(schedulers, broker_redis):
    scheduler = schedulers()
    before = timezone.now().timestamp()

    scheduler.tick()

    assert float(broker_redis.get(BEAT_LAST_TICK_KEY)) >= before


def test_a_standby_does_not_record_a_tick(schedulers, broker_redis):
    broker_redis.set(BEAT_LOCK_KEY, "another-beat")

    schedulers().tick()

    assert broker_redis.get(BEAT_LAST_TICK_KEY) is None


def test_the_scheduler_keeps_an_admins_edit_of_the_result_cleanup(schedulers):
    # given an admin moved celery.backend_cleanup to 05:15
    crontab = CrontabSchedule.objects.create(minute="15", hour="5")
    PeriodicTask.objects.create(name="celery.backend_cleanup", task="celery.backend_cleanup", crontab=crontab)

    # when a beat starts
    schedulers()

    # then the edit stands (django-celery-beat alone would put 04:00 back)
    assert PeriodicTask.objects.get(name="celery.backend_cleanup").crontab_id == crontab.pk


def test_the_scheduler_installs_the_result_cleanup_when_missing(schedulers):
    schedulers()

    assert PeriodicTask.objects.filter(name="celery.backend_cleanup", task="celery.backend_cleanup").exists()


def test_without_a_redis_broker_only_the_holder_of_the_database_lease_sends(settings):
    # given a RabbitMQ-like broker (not Redis), a due task and two beats' schedulers
    settings.CELERY_BROKER_URL = "memory://"
    probe = hourly_probe(last_run_hours_ago=2)
    first, second = LockedDatabaseScheduler(app=app), LockedDatabaseScheduler(app=app)
    try:
        # when both tick
        first.tick()
        waiting = second.tick()

        # then the first holds the lease in the database and sent the task once
        lease = Lease.objects.get(name=BEAT_LOCK_KEY)
        assert lease.holder == first._token
        assert lease.expires_at > timezone.now()  # it expires if its holder dies
        assert runs(probe) == 1
        assert waiting == STANDBY_POLL_SECONDS
        # and the lease's renewal is beat's last tick for the health check
        assert beat_last_tick_age(client=None) < 5
    finally:
        first.close()
        second.close()

    # and a clean stop releases it
    assert Lease.objects.get(name=BEAT_LOCK_KEY).holder == ""


def test_beat_refuses_a_scheduler_without_the_lock():
    class Service:
        scheduler = DatabaseScheduler(app=app, lazy=True)

    with pytest.raises(SystemExit, match="celery -A lms beat"):
        refuse_unlocked_scheduler(sender=Service())
