"""A job lost with its worker and its message heals itself: the stuck-job sweep re-runs it, once."""

import time

from django_celery_results.models import TaskResult

from lms.jobs.results import result_meta
from tests.faults.data import learners_in_course
from tests.faults.infra import check_invariants, purge, report, send, wait_until_done
from tests.processes import wait_for

GENERATE = "certificates.tasks.generate_certificate"
SWEEP = "lms.tasks.sweep_stuck_jobs"
# The certificate job's hard time limit in these workers, and the sweep's margin after it.
TIME_LIMIT, MARGIN = 4, 1


def test_a_job_whose_worker_and_message_are_lost_is_rerun_by_the_sweep_once(stack_for, redis_server):
    # given a worker issuing a certificate slowly (3 s inside the issuing transaction)
    stack = stack_for(
        redis_server.url, LMS_FAULT_TIME_LIMITS=f"{GENERATE}={TIME_LIMIT}", STUCK_JOB_MARGIN_SECONDS=str(MARGIN)
    )
    _, enrollments = learners_in_course(1, lessons_done=2)
    first = stack.worker(concurrency=1, LMS_FAULT_CERTIFICATE_DELAY="3")
    task_id = send(GENERATE, str(enrollments[0].pk))
    wait_for(lambda: TaskResult.objects.filter(task_id=task_id, status="STARTED").exists(), timeout=30,
             what="the job to start")  # fmt: skip
    time.sleep(0.5)

    # when the worker is SIGKILLed mid-job and the broker loses the message (flushed, as a Redis
    # restart without persistence does), and a new worker comes up
    first.kill_group()
    purge(redis_server.url)
    report(f"injected: SIGKILL worker {first.name} running {task_id}, then FLUSHDB of the broker")
    stack.worker(concurrency=1)
    assert TaskResult.objects.get(task_id=task_id).status == "STARTED"  # nothing else would ever run it

    # then once it is past its time limit plus the margin, the sweep (beat's job, sent here)
    # re-runs it under a new id, and the certificate is issued exactly once
    time.sleep(TIME_LIMIT + MARGIN)
    sweep_id = send(SWEEP)
    sweep = wait_for(lambda: TaskResult.objects.filter(task_id=sweep_id, status="SUCCESS").first(), timeout=30,
                     what="the sweep")  # fmt: skip
    wait_until_done(stack, certificates=1, timeout=60, what="the certificate")
    old = TaskResult.objects.get(task_id=task_id)
    new_id = result_meta(old)["rerun_as"]
    assert f'"{task_id}": "{new_id}"' in sweep.result
    assert old.status == "FAILURE" and "Worker lost" in old.result and new_id in old.result
    assert TaskResult.objects.get(task_id=new_id).status == "SUCCESS"

    # and a later sweep re-runs nothing more
    again = send(SWEEP)
    again_row = wait_for(lambda: TaskResult.objects.filter(task_id=again, status="SUCCESS").first(), timeout=30,
                         what="the second sweep")  # fmt: skip
    assert '"examined": 0' in again_row.result
    assert TaskResult.objects.filter(task_name=GENERATE).count() == 2
    report(f"recovered: {task_id} re-run as {new_id} by the sweep, no manual step")
    check_invariants(stack, label="worker and message lost", expect_certificates=1)
