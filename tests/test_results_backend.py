"""The result store's one-statement write (lms/jobs/result_store.py) against django-celery-results'
own: the same rows, in one round trip, with only the result row's commit asynchronous."""

import uuid
from types import SimpleNamespace

import pytest
from celery import states
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django_celery_results.backends.database import DatabaseBackend
from django_celery_results.models import TaskResult

from lms.celery import app
from lms.jobs.result_store import ResultBackend

pytestmark = pytest.mark.django_db(transaction=True)

COMPARED = ("status", "result", "traceback", "meta", "content_type", "content_encoding", "periodic_task_name",
            "task_name", "task_args", "task_kwargs", "worker")  # fmt: skip


def request_for(task_id: str) -> SimpleNamespace:
    """What a worker's trace hands the backend: an extended request with the queue in meta."""
    return SimpleNamespace(
        id=task_id,
        task="notifications.tasks.send_welcome_email",
        argsrepr="['3f1c']",
        kwargsrepr="{}",
        hostname="w1@host",
        periodic_task_name=None,
        meta={"queue": "emails"},
        children=[],
        ignore_result=False,
        group=None,
        chord=None,
        delivery_info={"routing_key": "emails"},
    )


def row(task_id: str) -> dict:
    return TaskResult.objects.filter(task_id=task_id).values(*COMPARED, "date_created", "date_started", "date_done")[0]


def store_lifecycle(backend, task_id: str) -> None:
    request = request_for(task_id)
    backend.store_result(task_id, {"pid": 1, "hostname": "w1@host"}, states.STARTED, request=request)
    backend.store_result(task_id, "sent", states.SUCCESS, request=request)


def test_result_backend_is_the_configured_one():
    # given the project's Celery app / then its result store is the one-statement backend
    assert isinstance(app.backend, ResultBackend)
    assert isinstance(app.backend, DatabaseBackend)


def test_result_backend_writes_the_same_rows_as_django_celery_results():
    # given the library's backend and ours, on the same app
    ours, library = ResultBackend(app=app), DatabaseBackend(app=app)
    ours_id, library_id = str(uuid.uuid4()), str(uuid.uuid4())

    # when each stores a job's STARTED then SUCCESS
    store_lifecycle(ours, ours_id)
    store_lifecycle(library, library_id)

    # then the rows agree on every stored column
    ours_row, library_row = row(ours_id), row(library_id)
    assert {key: ours_row[key] for key in COMPARED} == {key: library_row[key] for key in COMPARED}
    assert ours_row["status"] == "SUCCESS" and ours_row["worker"] == "w1@host"
    # and the row keeps its creation and start times while done moves on
    assert ours_row["date_started"] is not None
    assert ours_row["date_created"] <= ours_row["date_started"] <= ours_row["date_done"]
    # and readers decode it as before
    assert app.AsyncResult(ours_id).result == "sent"
    assert app.AsyncResult(ours_id).state == "SUCCESS"


def test_result_backend_keeps_date_started_when_a_later_state_is_stored():
    # given a job that started
    backend, task_id = ResultBackend(app=app), str(uuid.uuid4())
    request = request_for(task_id)
    backend.store_result(task_id, {"pid": 1}, states.STARTED, request=request)
    started = row(task_id)

    # when it is retried, then succeeds
    backend.store_result(task_id, ValueError("SMTP busy"), states.RETRY, request=request)
    backend.store_result(task_id, "sent", states.SUCCESS, request=request)

    # then its start and creation times are those of the STARTED write
    done = row(task_id)
    assert done["date_started"] == started["date_started"]
    assert done["date_created"] == started["date_created"]
    assert done["status"] == "SUCCESS"


def test_result_backend_writes_without_started_in_one_statement():
    # given a job that is not tracked (no STARTED row)
    backend, task_id = ResultBackend(app=app), str(uuid.uuid4())

    # when its result is stored
    with CaptureQueriesContext(connection) as queries:
        backend.store_result(task_id, "sent", states.SUCCESS, request=request_for(task_id))

    # then that is one statement (the library: SELECT, then INSERT in a transaction)
    assert len(queries.captured_queries) == 1
    assert queries.captured_queries[0]["sql"].startswith('INSERT INTO "django_celery_results_taskresult"')
    assert row(task_id)["date_started"] is None and row(task_id)["status"] == "SUCCESS"


def test_result_backend_async_commit_ends_with_its_own_statement(settings):
    # given asynchronous commit for result rows
    settings.RESULT_STORE_ASYNC_COMMIT = True
    backend, task_id = ResultBackend(app=app), str(uuid.uuid4())

    # when a result is stored in autocommit mode, as a worker stores it
    with CaptureQueriesContext(connection) as queries:
        backend.store_result(task_id, "sent", states.SUCCESS, request=request_for(task_id))

    # then that statement turned synchronous_commit off for itself only
    assert "set_config('synchronous_commit', 'off', true)" in queries.captured_queries[0]["sql"]
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"


def test_result_backend_inside_a_transaction_leaves_its_commit_synchronous(settings):
    # given asynchronous commit for result rows, and a caller's open transaction
    settings.RESULT_STORE_ASYNC_COMMIT = True
    backend, task_id = ResultBackend(app=app), str(uuid.uuid4())

    # when a result is stored inside it
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        backend.store_result(task_id, "sent", states.SUCCESS, request=request_for(task_id))
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            setting_inside = cursor.fetchone()[0]

    # then the caller's transaction (and its commit) kept synchronous_commit on
    assert "synchronous_commit" not in queries.captured_queries[0]["sql"]
    assert setting_inside == "on"
    assert row(task_id)["status"] == "SUCCESS"


def test_result_backend_recovers_from_a_terminated_connection():
    # given the process's database connection, terminated by the server
    backend, task_id = ResultBackend(app=app), str(uuid.uuid4())
    connection.ensure_connection()
    victim = connection.connection.info.backend_pid
    other = connection.copy()
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [victim])
    finally:
        other.close()

    # when a result is stored on it
    backend.store_result(task_id, "sent", states.SUCCESS, request=request_for(task_id))

    # then the write reconnected and the row is there, from a new server process
    assert row(task_id)["status"] == "SUCCESS"
    assert connection.connection.info.backend_pid != victim


SHORT_EMAIL_TASKS = {
    "notifications.tasks.send_welcome_email",
    "notifications.tasks.send_verification_email",
    "notifications.tasks.send_password_reset_email",
    "notifications.tasks.send_enrollment_confirmation",
    "notifications.tasks.send_notification",
}


LONG_TASKS = {
    "certificates.tasks.generate_certificate",
    "certificates.tasks.revoke_certificate",
    "enrollments.tasks.recalculate_course_progress",
    "enrollments.tasks.cleanup_stale_progress",
    "enrollments.tasks.generate_daily_analytics",
    "enrollments.tasks.generate_weekly_report",
    "enrollments.tasks.monthly_archive",
}


def test_started_rows_are_written_for_long_jobs_and_not_for_email_jobs():
    # given every task the project registers
    app.loader.import_default_modules()
    tasks = {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}

    # then the e-mail jobs write no STARTED row, and the long jobs the stuck-job sweep watches do
    assert {name for name in SHORT_EMAIL_TASKS if not tasks[name].track_started} == SHORT_EMAIL_TASKS
    assert {name for name in LONG_TASKS if tasks[name].track_started} == LONG_TASKS


def test_outbox_delete_after_publish_commits_asynchronously_and_only_itself(settings, monkeypatch):
    # given queued mode with a broker edge that accepts every job
    from lms.jobs.dispatch import dispatch_on_commit, dispatcher
    from lms.models import OutboxMessage
    from notifications.tasks import send_welcome_email

    settings.TASKS_FORCE_INLINE = False
    dispatcher.reset()
    monkeypatch.setattr(app, "send_task", lambda *args, **kwargs: None)

    # when a job is dispatched and its transaction commits
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        dispatch_on_commit(send_welcome_email, "u1")

    # then its outbox row was deleted after the publish by a statement with an asynchronous commit
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 1 and "set_config('synchronous_commit', 'off', true)" in deletes[0]
    assert not OutboxMessage.objects.exists()
    # and the session's own setting is untouched
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
