"""Bulk dispatch under faults: one recalculation completing many enrollments at once, run as
`manage.py recalculate_progress` (its own process), while Redis is down or a worker is killed."""

import subprocess
import sys
import time

from django_celery_results.models import TaskResult

from certificates.models import Certificate
from enrollments.models import Enrollment
from lms.jobs.outbox import outbox_dispatch_pending
from lms.models import OutboxMessage
from tests.faults.data import learners_with_stale_progress
from tests.faults.infra import check_invariants, queue_sizes, report, wait_until_done
from tests.processes import ROOT, wait_for

GENERATE = "certificates.tasks.generate_certificates"
# Certificates a job in these tests: several jobs per batch, so a kill lands between them.
PER_JOB = 4


def recalculate_in_a_command(stack, course) -> str:
    """`manage.py recalculate_progress --course <id>` as an operator runs it, on the stack's broker."""
    done = subprocess.run(
        [sys.executable, "manage.py", "recalculate_progress", "--course", str(course.pk)],
        cwd=ROOT, env=stack.env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout.strip().splitlines()[-1]


def certificate_results(course) -> dict[str, int]:
    """For each enrollment of `course`: how many successful certificate jobs the result store
    holds for it (a job of several enrollments counts for each; a job delivered twice is one
    task id, so one result)."""
    results = list(TaskResult.objects.filter(task_name=GENERATE, status="SUCCESS").values_list("task_args", flat=True))
    enrollment_ids = [str(pk) for pk in Enrollment.objects.filter(course=course).values_list("pk", flat=True)]
    return {pk: sum(pk in args for args in results) for pk in enrollment_ids}


def test_bulk_completion_with_redis_down_waits_in_the_outbox_and_is_published_once(stack_for, redis_server):
    # given 40 learners who finished a course while their stored progress is stale
    stack = stack_for(redis_server.url, CERTIFICATES_PER_JOB=str(PER_JOB))
    course = learners_with_stale_progress(40, lessons_done=2, lessons=2, passwords=False)

    # when Redis stops and the course is recalculated, completing all 40 at once
    redis_server.stop()
    report("injected: Redis stopped before a recalculation completing 40 enrollments")
    started = time.monotonic()
    output = recalculate_in_a_command(stack, course)
    report(f"recalculation with Redis down took {time.monotonic() - started:.1f}s: {output}")

    # then the completions committed and every certificate job waits in the outbox, one row
    # each: 10 jobs of 4, every enrollment in one of them
    assert Enrollment.objects.filter(course=course, status="completed").count() == 40
    waiting = list(OutboxMessage.objects.values_list("task_name", "args"))
    assert len(waiting) == 10 and {name for name, _ in waiting} == {GENERATE}
    batched = sorted(pk for _, (batch,) in waiting for pk in batch)
    assert batched == sorted(str(pk) for pk in Enrollment.objects.values_list("pk", flat=True))

    # when Redis is back (empty) and the outbox is swept twice
    redis_server.start()
    report("recovered: Redis started again, empty")
    first, second = outbox_dispatch_pending(grace_seconds=0), outbox_dispatch_pending(grace_seconds=0)

    # then each job was published exactly once, before any worker ran
    assert first == {"published": 10, "remaining": 0} and second == {"published": 0, "remaining": 0}
    assert queue_sizes(stack.broker_url)["certificates"] == 10

    # and a worker issues every certificate once, each job visible in the result store with
    # the certificates it issued
    stack.worker(concurrency=2)
    wait_until_done(stack, certificates=40, timeout=90)
    check_invariants(stack, label="bulk dispatch, redis outage", expect_certificates=40)
    assert set(certificate_results(course).values()) == {1}


def test_sigkill_of_the_worker_mid_bulk_batch_loses_and_duplicates_nothing(stack_for, broker_url):
    # given a worker issuing certificates slowly (0.5 s each), with a short redelivery timeout
    visibility, scan_every = 6, 1
    stack = stack_for(
        broker_url,
        CELERY_VISIBILITY_TIMEOUT=str(visibility),
        CELERY_UNACKED_RESTORE_INTERVAL=str(scan_every),
        CERTIFICATES_PER_JOB=str(PER_JOB),
    )
    course = learners_with_stale_progress(24, lessons_done=2, lessons=2, passwords=False)
    worker = stack.worker(concurrency=2, LMS_FAULT_CERTIFICATE_DELAY="0.5")
    # and beat sweeping the outbox, as in production (every minute there, every second here)
    stack.beat_sweeping_outbox_every_second()

    # when one recalculation completes all 24 at once (one batch of 6 jobs of 4), and the whole
    # worker is SIGKILLed in the middle of that batch: milliseconds after a job committed its
    # certificates, so inside that job's commit-to-publish window for their e-mails, while the
    # other process is half-way through a job
    recalculate_in_a_command(stack, course)
    wait_for(lambda: Certificate.objects.count() >= PER_JOB, timeout=30, interval=0.002, what="a job to commit")
    worker.kill_group()
    killed_at, issued_before = time.monotonic(), Certificate.objects.count()
    unpublished = OutboxMessage.objects.count()
    report(f"injected: SIGKILL worker group {worker.proc.pid} after {issued_before} of 24 certificates, "
           f"{unpublished} job(s) committed and not yet published")  # fmt: skip
    assert issued_before < 24, "the batch finished before the kill: nothing was tested"
    stack.worker(concurrency=2)

    # then every job completes once within the redelivery bound, and the e-mail jobs the killed
    # process had committed but not published are published by the sweep
    bound = visibility + scan_every + 24 * 0.5 / 2 + 20
    wait_until_done(stack, certificates=24, timeout=bound)
    report(f"recovered: all 24 done {time.monotonic() - killed_at:.1f}s after the kill (bound {bound:.0f}s)")
    check_invariants(stack, label="bulk batch, worker killed", expect_certificates=24)
    assert set(certificate_results(course).values()) == {1}


# `manage.py recalculate_progress` whose process dies right after the broker took the batch and
# before the outbox rows are deleted (the widest window of a publisher crash).
DIE_BEFORE_OUTBOX_DELETE = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")
import django
django.setup()
from lms.jobs import dispatch
dispatch.outbox_forget_many = lambda task_ids: os._exit(9)
from django.core.management import call_command
call_command("recalculate_progress", "--course", sys.argv[1])
"""


def test_publisher_killed_between_publish_and_outbox_delete_duplicates_nothing(stack_for, redis_server):
    # given 30 learners who finished a course while their stored progress is stale
    stack = stack_for(redis_server.url, CERTIFICATES_PER_JOB=str(PER_JOB))
    course = learners_with_stale_progress(30, lessons_done=2, lessons=2, passwords=False)

    # when the recalculating process dies after its batch was published, before the DELETE
    done = subprocess.run(
        [sys.executable, "-c", DIE_BEFORE_OUTBOX_DELETE, str(course.pk)],
        cwd=ROOT, env=stack.env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 9, done.stderr[-4000:]
    report("injected: the publishing process killed between the batch's publish and its outbox DELETE")

    # then the 8 jobs (30 certificates, 4 a job) are on the broker and still in the outbox
    assert queue_sizes(stack.broker_url)["certificates"] == 8
    assert OutboxMessage.objects.count() == 8

    # when the sweep publishes them again (same task ids) and a worker drains both copies
    assert outbox_dispatch_pending(grace_seconds=0) == {"published": 8, "remaining": 0}
    assert queue_sizes(stack.broker_url)["certificates"] == 16
    stack.worker(concurrency=2)

    # then each certificate was issued once, with one result per job
    wait_until_done(stack, certificates=30, timeout=90)
    check_invariants(stack, label="publisher killed before the outbox delete", expect_certificates=30)
    assert set(certificate_results(course).values()) == {1}
