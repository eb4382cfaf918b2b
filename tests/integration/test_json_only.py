"""Celery speaks JSON only: a pickled message is refused by a real worker, and this process
cannot even produce one (DESIGN.md: "JSON serializer only (no pickle)")."""

import pickle
import uuid
from pathlib import Path

import pytest
from django_celery_results.models import TaskResult
from kombu import Producer
from kombu.exceptions import SerializerNotInstalled

from lms.celery import app
from notifications.models import Notification
from notifications.tasks import send_welcome_email
from tests.processes import queue_sizes, wait_for

pytestmark = pytest.mark.integration

WELCOME = "notifications.tasks.send_welcome_email"


class TouchesFileWhenUnpickled:
    """Unpickles to `value`, creating `marker` on the way: what an attacker's payload would do."""

    def __init__(self, marker: Path, value: str):
        self.marker, self.value = marker, value

    def __reduce__(self):
        touched = _Reduced(Path.touch, (self.marker,))
        return str.format, ("{1}", touched, self.value)


class _Reduced:
    def __init__(self, function, args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def test_json_only_worker_refuses_a_pickled_task_message_and_runs_nothing(live_worker, learner, tmp_path):
    # given a learner whose welcome e-mail was sent and then forgotten, so a second run would show
    live_worker.wait_idle()
    Notification.objects.filter(user=learner, kind="welcome").delete()
    marker = tmp_path / "unpickled"
    task_id = str(uuid.uuid4())
    # a real task message for send_welcome_email(learner id), built as Celery builds it, whose
    # only argument unpickles to the learner's id, creating `marker` as it does
    message = app.amqp.as_task_v2(task_id, WELCOME, args=(TouchesFileWhenUnpickled(marker, str(learner.pk)),))

    # when it is published to the e-mail queue with kombu, pickled (by hand: this process has no
    # pickle serializer to offer, see the next test; the bytes are what serializer="pickle" sends)
    with app.connection_for_write() as connection:
        Producer(connection).publish(
            pickle.dumps(message.body),
            content_type="application/x-python-serialize",
            content_encoding="binary",
            # as Celery sends a task routed to a queue: the default exchange, keyed by the queue name
            exchange="",
            routing_key="emails",
            headers=message.headers,
            **message.properties,
        )

    # then nothing was unpickled or run (no file, no result, no e-mail row), and the worker logged
    # the content-type refusal once and dropped the message rather than loop on it
    wait_for(
        lambda: "Refusing to deserialize" in live_worker.log() or TaskResult.objects.filter(task_id=task_id).exists(),
        what="the worker to refuse (or run) the message",
    )
    live_worker.wait_idle()
    assert not marker.exists(), "the payload was unpickled"
    assert not TaskResult.objects.filter(task_id=task_id).exists(), "the task ran"
    assert not Notification.objects.filter(user=learner, kind="welcome").exists()
    refusals = [line for line in live_worker.log().splitlines() if "Received invalid task message" in line]
    assert len(refusals) == 1, refusals
    assert "Refusing to deserialize untrusted content of type application/x-python-serialize" in refusals[0]
    assert queue_sizes()["emails"] == 0


def test_json_only_this_process_refuses_to_send_a_task_with_pickle(learner):
    # when code here asks Celery for a pickled message
    with pytest.raises(SerializerNotInstalled):
        send_welcome_email.apply_async(args=[str(learner.pk)], serializer="pickle")

    # then nothing was queued for a worker to refuse
    assert queue_sizes()["emails"] == 0
