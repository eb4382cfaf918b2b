import pytest
from django.core.cache import cache
from django.db import connections
from rest_framework.test import APIClient

from tests.factories import StaffFactory, UserFactory


@pytest.fixture(autouse=True)
def _tasks_inline(settings):
    """Unit and API tests run background jobs in-process (still after commit).

    Integration tests switch this off and use real worker processes.
    """
    settings.TASKS_FORCE_INLINE = True


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Files a test writes (certificate PDFs, reports) go to its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Throttle counters live in the cache; each test starts with none.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def learner(db):
    return UserFactory()


@pytest.fixture
def other_learner(db):
    return UserFactory()


@pytest.fixture
def staff(db):
    return StaffFactory()


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


@pytest.fixture
def learner_client(learner) -> APIClient:
    return client_for(learner)


@pytest.fixture
def staff_client(staff) -> APIClient:
    return client_for(staff)


@pytest.fixture
def archive_lock_held_elsewhere(db):
    """The monthly archive's lock, taken by another database session (as a running job would)."""
    from lms.archive import ARCHIVE_LOCK_NAME

    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [ARCHIVE_LOCK_NAME])
        yield
    finally:
        other.close()


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server (aiosmtpd) this process's Django sends through; `.messages` holds the mail."""
    from tests.smtp import SmtpSink

    with SmtpSink() as sink:
        for name, value in sink.settings().items():
            setattr(settings, name, value)
        yield sink


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database, without the default schedules its `migrate` installed (lms.apps):
    each test sees only the schedules it makes (tests/test_schedules.py covers the install)."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    with django_db_blocker.unblock():
        PeriodicTask.objects.all().delete()
        CrontabSchedule.objects.all().delete()
