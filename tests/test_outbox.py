"""The transactional outbox: queued jobs are written with the data and swept if not published.

The broker is the edge here (celery's send_task, recorded or made to fail); the fault suite
proves the same with a real Redis stopped and started.
"""

import time
import uuid

import pytest
from django.db import transaction
from kombu.exceptions import OperationalError

from lms.jobs import dispatch
from lms.jobs.dispatch import dispatch_on_commit, dispatcher
from lms.jobs.outbox import outbox_dispatch_pending
from lms.models import OutboxMessage
from lms.tasks import dispatch_outbox
from notifications.tasks import send_welcome_email

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker(monkeypatch, settings):
    """Queued mode against a recording broker edge; `broker.down = True` makes it refuse."""
    settings.TASKS_FORCE_INLINE = False
    dispatcher.reset()

    class Broker:
        down = False
        sent: list = []

        def send_task(self, name, args=None, kwargs=None, task_id=None, **options):
            if self.down:
                raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
            self.sent.append((name, args, task_id))

    fake = Broker()
    fake.sent = []
    from lms.celery import app

    monkeypatch.setattr(app, "send_task", fake.send_task)
    yield fake
    dispatcher.reset()


def test_a_queued_job_is_published_after_commit_and_leaves_no_row(broker):
    with transaction.atomic():
        task_id = dispatch_on_commit(send_welcome_email, "u1")
        assert OutboxMessage.objects.filter(pk=task_id).exists()  # written with the data
        assert broker.sent == []  # not before the commit

    assert broker.sent == [("notifications.tasks.send_welcome_email", ["u1"], task_id)]
    assert not OutboxMessage.objects.exists()


def test_a_rolled_back_job_leaves_nothing(broker):
    with pytest.raises(RuntimeError), transaction.atomic():
        dispatch_on_commit(send_welcome_email, "u1")
        raise RuntimeError("rollback")

    assert broker.sent == []
    assert not OutboxMessage.objects.exists()


def test_broker_down_keeps_the_job_and_answers_fast(broker):
    broker.down = True

    started = time.monotonic()
    with transaction.atomic():
        first = dispatch_on_commit(send_welcome_email, "u1")
    with transaction.atomic():
        second = dispatch_on_commit(send_welcome_email, "u2")
    elapsed = time.monotonic() - started

    assert set(OutboxMessage.objects.values_list("pk", flat=True)) == {uuid.UUID(first), uuid.UUID(second)}
    assert dispatcher.broker_marked_down()
    assert elapsed < 1.0


def test_the_sweep_publishes_waiting_jobs_once_the_broker_is_back(broker):
    broker.down = True
    with transaction.atomic():
        task_id = dispatch_on_commit(send_welcome_email, "u1")
    assert outbox_dispatch_pending(grace_seconds=0) == {"published": 0, "remaining": 1}
    assert OutboxMessage.objects.get().attempts == 1

    broker.down = False
    result = outbox_dispatch_pending(grace_seconds=0)

    assert result == {"published": 1, "remaining": 0}
    assert broker.sent == [("notifications.tasks.send_welcome_email", ["u1"], task_id)]
    assert outbox_dispatch_pending(grace_seconds=0) == {"published": 0, "remaining": 0}


def test_the_sweep_leaves_young_rows_to_their_own_request(broker):
    broker.down = True
    with transaction.atomic():
        dispatch_on_commit(send_welcome_email, "u1")
    broker.down = False

    assert outbox_dispatch_pending() == {"published": 0, "remaining": 1}


def test_the_sweep_task_is_registered_and_routed():
    from lms.celery import app

    assert app.amqp.router.route({}, "lms.tasks.dispatch_outbox")["queue"].name == "default"
    assert dispatch_outbox.time_limit


def test_backoff_window_is_short():
    assert 0 < dispatch.BROKER_DOWN_BACKOFF_SECONDS <= 30
