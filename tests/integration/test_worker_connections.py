"""A real worker keeps its database connections between jobs (lms/jobs/connections.py) and
replaces one the server dropped while it was idle, before the next job's first query."""

import pytest
from django.db import connection
from django_celery_results.models import TaskResult

from lms.users.models import User
from notifications.models import Notification
from notifications.tasks import send_welcome_email
from tests.processes import broker_purge, start_worker, wait_for

pytestmark = pytest.mark.integration

APPLICATION_NAME = "lms-test-kept-connections"


@pytest.fixture
def tagged_worker(transactional_db, settings, tmp_path):
    """A worker of its own whose database connections carry an application_name (libpq reads
    PGAPPNAME), so the test can find them in pg_stat_activity."""
    settings.TASKS_FORCE_INLINE = False
    broker_purge()
    worker = start_worker(
        name="kept-connections", tmp_dir=tmp_path, queues=("emails",), env_overrides={"PGAPPNAME": APPLICATION_NAME}
    )
    yield worker
    worker.wait_idle()
    worker.stop()


def worker_backends() -> set[tuple[int, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, backend_start::text FROM pg_stat_activity WHERE application_name = %s AND datname = %s",
            [APPLICATION_NAME, connection.settings_dict["NAME"]],
        )
        return set(cursor.fetchall())


def welcome_jobs(count: int, tag: str) -> list[str]:
    users = User.objects.bulk_create(
        User(email=f"{tag}-{i}@example.com", full_name=f"Learner {i}") for i in range(count)
    )
    return [send_welcome_email.apply_async(args=[str(user.pk)]).id for user in users]


def wait_succeeded(task_ids: list[str]) -> None:
    wait_for(
        lambda: (
            TaskResult.objects.filter(task_id__in=task_ids, status__in=("SUCCESS", "FAILURE")).count() == len(task_ids)
        ),
        timeout=60,
        what=f"{len(task_ids)} results",
    )
    failed = list(TaskResult.objects.filter(task_id__in=task_ids).exclude(status="SUCCESS").values("status", "result"))
    assert failed == []


def test_worker_keeps_its_connections_between_jobs(tagged_worker):
    # given a worker that ran some jobs
    wait_succeeded(welcome_jobs(4, "first"))
    tagged_worker.wait_idle()
    kept = worker_backends()

    # when it runs more
    wait_succeeded(welcome_jobs(6, "second"))
    tagged_worker.wait_idle()

    # then its connections outlived the jobs (Celery's stock fixup closes them after each) and
    # the same server processes served the later jobs
    assert kept, "no connection left open after the jobs"
    assert kept <= worker_backends()


def test_worker_replaces_a_connection_the_server_terminated_while_idle(tagged_worker):
    # given a worker whose kept connections the server terminated while it was idle
    wait_succeeded(welcome_jobs(4, "before"))
    tagged_worker.wait_idle()
    victims = worker_backends()
    assert victims
    with connection.cursor() as cursor:
        for pid, _started in victims:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    wait_for(lambda: not (worker_backends() & victims), timeout=10, what="the terminated backends to go")

    # when it gets more jobs (e-mail jobs do not retry database errors: a dead connection
    # reaching a job's query would fail it)
    task_ids = welcome_jobs(6, "after")

    # then every job succeeded on its first attempt, on new connections
    wait_succeeded(task_ids)
    assert Notification.objects.filter(dedupe_key__startswith="welcome:", status="sent").count() == 10
    assert Notification.objects.filter(attempts__gt=1).count() == 0
    tagged_worker.wait_idle()
    assert worker_backends() and not (worker_backends() & victims)
