"""GET /api/health/: public; database, broker, workers and beat; 503 only when the database is down."""

import socket
import time
from datetime import UTC, datetime

import pytest
import redis
import time_machine
from django.db import connection

from lms.jobs.beat import BEAT_LAST_TICK_KEY
from tests.processes import broker_url, free_port

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def broker(settings):
    settings.CELERY_BROKER_URL = broker_url()
    client = redis.Redis.from_url(broker_url())
    client.delete(BEAT_LAST_TICK_KEY)
    yield client
    client.delete(BEAT_LAST_TICK_KEY)


@pytest.fixture
def database_down(django_db_blocker):
    """The database really unreachable: the connection points at a port nobody listens on."""
    with django_db_blocker.unblock():
        connection.close()
        port = connection.settings_dict["PORT"]
        connection.settings_dict["PORT"] = free_port()
        try:
            yield
        finally:
            connection.close()
            connection.settings_dict["PORT"] = port


@pytest.fixture
def hanging_broker(settings):
    """A broker that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{server.getsockname()[1]}/13"
        yield


@pytest.mark.django_db
def test_health_reports_every_part_without_authentication(api_client, broker):
    # given beat ticked 12 seconds ago
    with time_machine.travel(NOW, tick=False):
        broker.set(BEAT_LAST_TICK_KEY, NOW.timestamp() - 12)

        response = api_client.get("/api/health/")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"database", "broker", "workers", "beat"}
    assert (body["database"], body["broker"], body["beat"]) == ("ok", "ok", 12.0)
    assert isinstance(body["workers"], int)


@pytest.mark.django_db
def test_health_reports_no_beat_when_none_ever_ticked(api_client, broker):
    assert api_client.get("/api/health/").json()["beat"] is None


@pytest.mark.django_db
def test_health_without_a_broker_reports_it_not_configured(api_client, settings):
    settings.CELERY_BROKER_URL = "memory://"

    body = api_client.get("/api/health/").json()

    assert (body["broker"], body["workers"], body["beat"]) == ("not configured", None, None)


def test_health_answers_503_when_the_database_is_down(api_client, broker, database_down):
    response = api_client.get("/api/health/")

    assert response.status_code == 503
    assert response.json()["database"] == "error"
    assert response.json()["broker"] == "ok"


@pytest.mark.django_db
def test_health_gives_up_on_a_hanging_broker_within_two_seconds(api_client, hanging_broker):
    started = time.monotonic()

    response = api_client.get("/api/health/")

    assert time.monotonic() - started < 2.5
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "error", "workers": None, "beat": None}


@pytest.mark.django_db
def test_health_reports_a_refused_broker_connection(api_client, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/13"

    response = api_client.get("/api/health/")

    assert response.status_code == 200
    assert response.json()["broker"] == "error"
