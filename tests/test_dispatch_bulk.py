"""Bulk dispatch: many jobs of one task for a constant number of statements and one broker
connection, repeats folded in one pass, savepoints respected.

Queued-mode tests publish to the test broker (TEST_BROKER_URL's Redis database), emptied before
and after; the fault suite (tests/faults/test_bulk_dispatch.py) stops and kills real services.
"""

import json
import math

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django_celery_results.models import TaskResult

from certificates.models import Certificate
from enrollments import services
from enrollments.models import Enrollment
from lms.jobs import dispatch
from lms.jobs.dispatch import dispatch_many_on_commit, dispatch_on_commit, dispatcher
from lms.models import OutboxMessage
from notifications.tasks import send_welcome_email
from tests.faults.data import learners_with_stale_progress
from tests.processes import broker_purge, queue_sizes

GENERATE = "certificates.tasks.generate_certificates"


@pytest.fixture
def queued(settings):
    """Queued mode against the test broker, empty before and after."""
    settings.TASKS_FORCE_INLINE = False
    dispatcher.reset()
    broker_purge()
    yield
    broker_purge()
    dispatcher.reset()


@pytest.mark.django_db(transaction=True)
def test_bulk_completion_costs_the_same_statements_for_1_and_1000_certificates(queued):
    # given a course where 1 learner and one where 1,000 learners completed every lesson while
    # their stored figures still say active
    one = learners_with_stale_progress(1, lessons_done=1, lessons=1, passwords=False)
    thousand = learners_with_stale_progress(1_000, lessons_done=1, lessons=1, passwords=False)

    # when each course is recalculated (the statements through commit and after it counted)
    with CaptureQueriesContext(connection) as few:
        first = services.course_progress_recalculate(course_id=one.pk)
    with CaptureQueriesContext(connection) as many:
        second = services.course_progress_recalculate(course_id=thousand.pk)

    # then both completions cost the same statements: the lock, the UPDATE, one outbox INSERT,
    # and after commit one DELETE of the rows the broker took
    assert (len(first.newly_completed), len(second.newly_completed)) == (1, 1_000)
    kinds = [[q["sql"].split()[0] for q in queries.captured_queries] for queries in (few, many)]
    assert kinds[0] == kinds[1] == ["BEGIN", "SELECT", "WITH", "INSERT", "COMMIT", "DELETE"]
    # and every job reached the broker (the certificates in jobs of CERTIFICATES_PER_JOB), with
    # nothing left in the outbox
    assert queue_sizes()["certificates"] == 1 + math.ceil(1_000 / settings.CERTIFICATES_PER_JOB)
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_bulk_dispatch_inserts_in_chunks_of_the_named_constant(queued, monkeypatch):
    # given statements of at most 3 outbox rows
    monkeypatch.setattr(dispatch, "OUTBOX_ROWS_PER_STATEMENT", 3)

    # when 7 jobs are dispatched in one transaction
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        task_ids = dispatch_many_on_commit(send_welcome_email, [(f"u{i}",) for i in range(7)])
        assert OutboxMessage.objects.count() == 7

    # then 3 INSERTs and 3 DELETEs carried them, and all 7 were published
    sqls = [q["sql"] for q in queries.captured_queries]
    assert (sum(s.startswith("INSERT") for s in sqls), sum(s.startswith("DELETE") for s in sqls)) == (3, 3)
    assert len(set(task_ids)) == 7
    assert queue_sizes()["emails"] == 7
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_bulk_dispatch_with_the_broker_down_keeps_every_job_for_the_sweep(queued, monkeypatch):
    # given a broker that refuses after two messages of the batch, sent two per round trip
    from kombu.exceptions import OperationalError

    from lms.celery import app
    from lms.jobs.outbox import outbox_dispatch_pending

    real_send, sent = app.send_task, []

    def flaky_send(name, *args, task_id=None, **kwargs):
        if len(sent) == 2:
            raise OperationalError("Connection refused.")
        sent.append(task_id)
        return real_send(name, *args, task_id=task_id, **kwargs)

    monkeypatch.setattr(app, "send_task", flaky_send)
    monkeypatch.setattr(dispatch, "PUBLISH_PIPELINE_SIZE", 2)

    # when five jobs are dispatched
    with transaction.atomic():
        task_ids = dispatch_many_on_commit(send_welcome_email, [(f"u{i}",) for i in range(5)])

    # then the two published are gone from the outbox and the three others wait there
    assert sent == task_ids[:2]
    assert {str(pk) for pk in OutboxMessage.objects.values_list("pk", flat=True)} == set(task_ids[2:])
    assert dispatcher.broker_marked_down()

    # and once the broker is back, the sweep publishes those three, once
    monkeypatch.setattr(app, "send_task", real_send)
    assert outbox_dispatch_pending(grace_seconds=0) == {"published": 3, "remaining": 0}
    assert outbox_dispatch_pending(grace_seconds=0) == {"published": 0, "remaining": 0}
    assert queue_sizes()["emails"] == 5


@pytest.mark.django_db
def test_dispatch_many_folds_repeats_within_the_batch_and_the_transaction(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        # given a job already pending in this transaction
        pending = dispatch_on_commit(send_welcome_email, "a")

        # when a batch repeats it and repeats one of its own
        ids = dispatch_many_on_commit(send_welcome_email, [("b",), ("a",), ("c",), ("b",)])

    # then the ids follow the order asked, repeats sharing one id, and each job is sent once
    assert ids[1] == pending and ids[0] == ids[3] and len({pending, *ids}) == 3
    assert [[job.args for job in batch.jobs] for batch in callbacks] == [[("a",)], [("b",), ("c",)]]


@pytest.mark.django_db
def test_different_kwargs_are_different_jobs(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        plain = dispatch_on_commit(send_welcome_email, "a")
        again = dispatch_many_on_commit(send_welcome_email, [("a",)], regenerate=True)

    assert plain != again[0] and len(callbacks) == 2


@pytest.mark.django_db
def test_a_batch_of_a_rolled_back_savepoint_is_neither_sent_nor_folded_into(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        # given a batch in a savepoint that rolls back, and one in a savepoint that is released
        try:
            with transaction.atomic():
                lost = dispatch_many_on_commit(send_welcome_email, [("a",), ("b",)])
                raise RuntimeError("roll the savepoint back")
        except RuntimeError:
            pass
        with transaction.atomic():
            kept = dispatch_many_on_commit(send_welcome_email, [("c",)])

        # when the same jobs are asked for again in the enclosing transaction
        again = dispatch_many_on_commit(send_welcome_email, [("a",), ("c",)])

    # then the rolled-back ones are new jobs, the released one is folded into, each sent once
    assert again[0] not in lost and again[1] == kept[0]
    assert sorted(job.args for batch in callbacks for job in batch.jobs) == [("a",), ("c",)]


def test_dispatch_many_refuses_a_bare_string_for_an_argument_tuple():
    with pytest.raises(TypeError, match="argument tuples"):
        dispatch_many_on_commit(send_welcome_email, ["not-a-tuple"])


@pytest.mark.django_db(transaction=True)
def test_inline_bulk_completion_issues_every_certificate_once_with_its_result():
    # given 30 learners completing a course at once, jobs running in-process (the default here)
    course = learners_with_stale_progress(30, lessons_done=2, lessons=2, passwords=False)

    # when the course is recalculated twice
    services.course_progress_recalculate(course_id=course.pk)
    services.course_progress_recalculate(course_id=course.pk)

    # then each enrollment got one certificate, issued by one job (of CERTIFICATES_PER_JOB
    # enrollments) whose stored result names it, and the second run issued nothing
    enrollment_ids = {str(pk) for pk in Enrollment.objects.filter(course=course).values_list("pk", flat=True)}
    assert {str(pk) for pk in Certificate.objects.values_list("enrollment_id", flat=True)} == enrollment_ids
    assert Certificate.objects.count() == 30
    results = [json.loads(r.result) for r in TaskResult.objects.filter(task_name=GENERATE, status="SUCCESS")]
    assert len(results) == math.ceil(30 / settings.CERTIFICATES_PER_JOB)
    issued = [enrollment_id for result in results for enrollment_id in result["issued"]]
    assert sorted(issued) == sorted(enrollment_ids)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("waiting", [3, 60])
def test_the_outbox_sweep_publishes_a_batch_for_constant_statements(queued, waiting, monkeypatch):
    # given jobs left in the outbox while the broker refused them
    from lms.jobs.outbox import outbox_dispatch_pending

    with monkeypatch.context() as patch:
        patch.setattr(dispatcher, "publish_many", lambda messages: [])
        with transaction.atomic():
            dispatch_many_on_commit(send_welcome_email, [(f"u{i}",) for i in range(waiting)])
    assert OutboxMessage.objects.count() == waiting

    # when the sweep runs
    with CaptureQueriesContext(connection) as queries:
        result = outbox_dispatch_pending(grace_seconds=0)

    # then it published them all for the same statements whatever their number: the claim,
    # one DELETE, the count of what is left (plus BEGIN and COMMIT)
    assert result == {"published": waiting, "remaining": 0}
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["BEGIN", "SELECT", "DELETE", "COMMIT", "SELECT"]
    assert queue_sizes()["emails"] == waiting


@pytest.mark.django_db(transaction=True)
def test_one_sweep_publishes_a_large_backlog_in_batches(queued, monkeypatch):
    # given 7 jobs the broker refused, and sweeps of batches of 2
    from lms.jobs.outbox import outbox_dispatch_pending

    with monkeypatch.context() as patch:
        patch.setattr(dispatcher, "publish_many", lambda messages: [])
        with transaction.atomic():
            dispatch_many_on_commit(send_welcome_email, [(f"u{i}",) for i in range(7)])

    # when one sweep runs with room for 3 batches, then another
    first = outbox_dispatch_pending(grace_seconds=0, batch_size=2, max_batches=3)
    second = outbox_dispatch_pending(grace_seconds=0, batch_size=2, max_batches=3)

    # then the first published 6 in 3 batches, the second the last one, each once
    assert (first, second) == ({"published": 6, "remaining": 1}, {"published": 1, "remaining": 0})
    assert queue_sizes()["emails"] == 7


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [(("0b6e-id",), {}), (("x", 3, None, True, 1.5), {"regenerate": True}), (('it\'s "quoted" é',), {"a": "b"})],
)
def test_plain_argument_reprs_are_the_text_celery_would_show(args, kwargs):
    from celery.utils.saferepr import saferepr

    from lms.celery import app

    assert dispatch._plain_reprs(args, kwargs) == {
        "argsrepr": saferepr(list(args), 1024, maxlevels=app.conf.task_repr_maxlevels),
        "kwargsrepr": saferepr(kwargs, 1024, maxlevels=app.conf.task_repr_maxlevels),
    }


def test_arguments_that_are_not_plain_values_are_left_to_celery():
    assert dispatch._plain_reprs((["a", "list"],), {}) == {}
    assert dispatch._plain_reprs(("x" * 2000,), {}) == {}
