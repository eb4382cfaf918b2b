"""Workers dying: a pool child, the whole worker, a warm shutdown, a task that kills itself."""

import os
import signal
import time

from django_celery_results.models import TaskResult

from certificates.models import Certificate
from tests.faults.data import learners_in_course
from tests.faults.infra import check_invariants, report, send, wait_until_done
from tests.processes import wait_for

GENERATE = "certificates.tasks.generate_certificate"


def queue_certificates(stack, enrollments) -> list[str]:
    return [send(GENERATE, str(e.pk)) for e in enrollments]


def test_sigkill_of_a_pool_child_mid_certificate_is_retried_and_done_once(stack):
    # given completed enrollments whose certificates take a second to issue
    _, enrollments = learners_in_course(8, lessons_done=2)
    worker = stack.worker(concurrency=2, LMS_FAULT_CERTIFICATE_DELAY="1")
    # and beat sweeping the outbox, as in production, should a kill land between a commit and
    # the publish of the e-mail job it committed
    stack.beat_sweeping_outbox_every_second()
    queue_certificates(stack, enrollments)

    # when a pool child is SIGKILLed while it holds a certificate transaction open
    active = wait_for(lambda: stack.active(worker), timeout=20, what="a certificate job to start")
    time.sleep(0.5)  # inside the issuing transaction: the PDF is written, the row is not
    victim = active[0]["worker_pid"]
    os.kill(victim, signal.SIGKILL)
    report(f"injected: SIGKILL pool process {victim} running {active[0]['id']}")

    # then every certificate is issued exactly once and the queues drain
    wait_until_done(stack, certificates=8, timeout=60)
    check_invariants(stack, label="pool child killed", expect_certificates=8)
    assert worker.alive()
    killed = wait_for(lambda: TaskResult.objects.filter(task_id=active[0]["id"], status="SUCCESS").first(),
                      what="the killed job to succeed on its retry")  # fmt: skip
    assert killed.worker == worker.name


def test_sigkill_of_the_whole_worker_loses_nothing_after_restart(stack_for, broker_url):
    # given a worker holding jobs in flight and prefetched, with a short redelivery timeout
    # (CELERY_VISIBILITY_TIMEOUT: Redis hands unacknowledged jobs out again after it;
    # RabbitMQ requeues them as soon as the connection drops)
    visibility, scan_every = 6, 1
    stack = stack_for(
        broker_url, CELERY_VISIBILITY_TIMEOUT=str(visibility), CELERY_UNACKED_RESTORE_INTERVAL=str(scan_every)
    )
    _, enrollments = learners_in_course(16, lessons_done=2)
    worker = stack.worker(concurrency=2, LMS_FAULT_CERTIFICATE_DELAY="1")
    stack.beat_sweeping_outbox_every_second()  # as in production (see the pool-child test above)
    queue_certificates(stack, enrollments)
    wait_for(lambda: stack.active(worker), timeout=20, what="jobs to start")
    time.sleep(0.5)  # inside their transactions, with more jobs prefetched behind them

    # when the worker and its pool processes are all SIGKILLed, then a new worker starts
    worker.kill_group()
    killed_at = time.monotonic()
    issued_before = Certificate.objects.count()
    report(f"injected: SIGKILL worker group {worker.proc.pid} with {16 - issued_before} job(s) not done")
    stack.worker(concurrency=2, LMS_FAULT_CERTIFICATE_DELAY="1")

    # then every job completes once within the stated bound: the redelivery timeout and scan
    # period, plus the remaining work (16 jobs of 1 s on 2 processes), plus start-up slack
    bound = visibility + scan_every + 16 / 2 + 20
    wait_until_done(stack, certificates=16, timeout=bound)
    report(f"recovered: all jobs done {time.monotonic() - killed_at:.1f}s after the kill (bound {bound:.0f}s)")
    check_invariants(stack, label="worker group killed", expect_certificates=16)


def test_warm_shutdown_during_jobs_finishes_them_and_requeues_the_rest(stack):
    # given a worker busy with certificate jobs, more waiting
    _, enrollments = learners_in_course(10, lessons_done=2)
    first = stack.worker(concurrency=2, LMS_FAULT_CERTIFICATE_DELAY="1")
    queue_certificates(stack, enrollments)
    running = wait_for(lambda: stack.active(first), timeout=20, what="a job to start")

    # when it gets SIGTERM (warm shutdown) mid-job, and a new worker starts after it exits
    first.proc.send_signal(signal.SIGTERM)
    report(f"injected: SIGTERM to worker {first.proc.pid} while running {[job['id'] for job in running]}")
    first.proc.wait(timeout=60)
    stack.worker(concurrency=2)

    # then the running jobs finished on the first worker and nothing was lost
    for job in running:
        result = wait_for(lambda job=job: TaskResult.objects.filter(task_id=job["id"], status="SUCCESS").first(),
                          what="the running job")  # fmt: skip
        assert result.worker == first.name
    wait_until_done(stack, certificates=10, timeout=60)
    check_invariants(stack, label="warm shutdown", expect_certificates=10)


def test_a_task_that_always_kills_its_process_is_capped_and_marked_failed(stack, tmp_path):
    # given a job that kills the process running it, every time
    counter = tmp_path / "runs.txt"
    worker = stack.worker(concurrency=1)

    # when it is queued
    task_id = send("faults.crash_process", str(counter))
    report("injected: a task that SIGKILLs its own pool process on every run")

    # then it runs max_retries + 1 times, ends FAILURE, and nothing keeps looping
    result = wait_for(lambda: TaskResult.objects.filter(task_id=task_id, status="FAILURE").first(),
                      timeout=60, what="the crashing job to be marked failed")  # fmt: skip
    runs = counter.read_text().count("run")
    assert runs == 3, f"ran {runs} times"
    assert "WorkerLostError" in result.result
    time.sleep(7)  # longer than the retry delay: a loop would have started another run
    assert counter.read_text().count("run") == runs
    assert stack.drained() and worker.alive()
    report(f"[crash loop] runs = {runs}, status = FAILURE, queued = 0")
