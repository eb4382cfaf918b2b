"""Services going away under load: Redis stopped during requests, PostgreSQL restarted mid-task."""

import subprocess
import time

import pytest
from django.db import InterfaceError, OperationalError, connection
from django_celery_results.models import TaskResult

from certificates.models import Certificate
from enrollments.models import Enrollment
from lms.models import OutboxMessage
from tests.factories import DEFAULT_PASSWORD
from tests.faults.data import learners_in_course
from tests.faults.infra import check_invariants, report, send
from tests.processes import wait_for

# Each request must still answer this fast while the broker is down.
REQUEST_BUDGET_SECONDS = 2.0


def test_redis_down_requests_stay_fast_data_commits_and_jobs_run_once_it_is_back(stack_for, redis_server):
    # given learners one lesson away from their certificates, the web app, a worker, and beat
    # sweeping the outbox every second
    stack = stack_for(redis_server.url)
    course, enrollments = learners_in_course(6, lessons_done=1)
    last_lesson = course.lessons.order_by("position").last()
    web = stack.web()
    stack.worker(concurrency=2)
    stack.beat_sweeping_outbox_every_second()
    tokens = []
    for enrollment in enrollments:
        status, body = web.request(
            "POST", "/api/auth/token/", {"email": enrollment.student.email, "password": DEFAULT_PASSWORD}
        )
        assert status == 200, body
        tokens.append(body["access"])

    # when Redis stops and every learner completes the course through the API
    redis_server.stop()
    report("injected: Redis stopped")
    latencies = []
    for enrollment, token in zip(enrollments, tokens, strict=True):
        started = time.monotonic()
        status, body = web.request(
            "POST", f"/api/enrollments/{enrollment.pk}/lessons/{last_lesson.pk}/complete/", token=token
        )
        latencies.append(time.monotonic() - started)
        assert status == 200, body
        assert body["status"] == "completed"
    report(f"requests during the outage: max {max(latencies):.2f}s, all {[round(t, 2) for t in latencies]}")

    # then each answered within budget, the data committed, and the jobs wait in the outbox
    assert max(latencies) < REQUEST_BUDGET_SECONDS
    assert Enrollment.objects.filter(course=course, status="completed").count() == 6
    assert OutboxMessage.objects.filter(task_name="certificates.tasks.generate_certificates").count() == 6

    # and once Redis is back (empty: it keeps nothing on disk), every job runs, once
    redis_server.start()
    back = time.monotonic()
    report("recovered: Redis started again, empty")
    wait_for(
        lambda: Certificate.objects.count() == 6 and stack.drained(), timeout=90, what="certificates after the outage"
    )
    report(f"all jobs done {time.monotonic() - back:.1f}s after Redis came back")
    check_invariants(stack, label="redis outage", expect_certificates=6)


def restart_postgres() -> None:
    """Restart the PostgreSQL cluster serving 127.0.0.1:5432 (fast mode: connections are cut)."""
    port = str(connection.settings_dict["PORT"] or 5432)
    listing = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        version, cluster, cluster_port, *_ = line.split()
        if cluster_port == port:
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", "--mode", "fast", version, cluster, "restart"],
                check=True,
                capture_output=True,
                timeout=60,
            )
            return
    pytest.fail(f"No PostgreSQL cluster on port {port} in pg_lsclusters:\n{listing}")


def db_ready(predicate):
    """A wait_for predicate that treats a database still coming back as 'not yet'."""

    def check():
        try:
            return predicate()
        except (OperationalError, InterfaceError):
            connection.close()
            return False

    return check


def test_postgres_restart_mid_task_retries_and_leaves_no_partial_certificate(stack_for, redis_server):
    # given a certificate job that holds its transaction open for 3 s after writing the PDF
    stack = stack_for(redis_server.url)
    _, [enrollment] = learners_in_course(1, lessons_done=2)
    worker = stack.worker(concurrency=1, LMS_FAULT_CERTIFICATE_DELAY="3")
    task_id = send("certificates.tasks.generate_certificate", str(enrollment.pk))
    wait_for(lambda: stack.active(worker), timeout=20, what="the job to start")
    time.sleep(1)

    # when PostgreSQL restarts under it
    restart_postgres()
    connection.close()  # this process's own connection died with the server
    report("injected: PostgreSQL restarted while the certificate transaction was open")

    # then the job retries and completes: one certificate, one PDF, no partial row or file
    wait_for(
        db_ready(lambda: Certificate.objects.count() == 1 and stack.drained()),
        timeout=90,
        what="the certificate after the restart",
    )
    result = wait_for(db_ready(lambda: TaskResult.objects.filter(task_id=task_id, status="SUCCESS").first()),
                      what="the job's SUCCESS")  # fmt: skip
    assert worker.alive()
    report(f"[postgres restart] job {result.task_id} succeeded; log shows retry: {'Retry in' in worker.log()}")
    assert "Retry in" in worker.log()
    check_invariants(stack, label="postgres restart", expect_certificates=1)
