import pytest

from tests.processes import broker_purge, start_worker


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """One real `celery -A lms worker` on every queue, shared by the integration tests."""
    with django_db_blocker.unblock():
        broker_purge()
        worker = start_worker(name="it", tmp_dir=tmp_path_factory.mktemp("worker"))
    yield worker
    worker.stop()


@pytest.fixture
def live_worker(celery_worker, transactional_db, settings):
    """The shared worker, with this test's jobs going to it through the broker.

    On the way out it waits for the worker to finish every job this test caused, so nothing
    writes into the database while pytest-django flushes it for the next test.
    """
    settings.TASKS_FORCE_INLINE = False
    settings.MEDIA_ROOT = celery_worker.media_dir  # files the worker writes, the test can read
    yield celery_worker
    celery_worker.wait_idle()
