"""GET /api/health/ cannot be used to stall the API or to make workers broadcast (issue 15, 1).

Attack: 50 concurrent anonymous calls, each holding a web worker ~0.5 s for a broadcast ping
(20 s for all of them, /api/courses/ stalled meanwhile, and "workers": 0 with a worker up).
The answer now comes from the shared cache, refreshed by one caller at a time; workers are
counted from their heartbeat keys, not a broadcast.
"""

import threading
import time
from types import SimpleNamespace

import pytest
import redis
from django.db import connection
from rest_framework.test import APIClient

from lms.jobs import health
from lms.jobs.heartbeat import WORKER_ALIVE_PREFIX
from tests.processes import broker_url, start_worker, wait_for

CONCURRENT_CALLS = 50


@pytest.fixture
def refreshes(monkeypatch):
    """How many times the full report (the part with the worker count) is computed."""
    calls = []
    original = health.health_report

    def counted(**kwargs):
        calls.append(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(health, "health_report", counted)
    return calls


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_anonymous_calls_compute_the_report_once(refreshes, settings, monkeypatch):
    settings.CELERY_BROKER_URL = broker_url()
    # The callers wait for the one refresh however slow a loaded machine makes it: this test is
    # about how often the report is computed, not about the wait's budget.
    monkeypatch.setattr(health, "FIRST_ANSWER_WAIT_SECONDS", 25.0)
    start = threading.Barrier(CONCURRENT_CALLS)
    answers = []

    def call():
        try:
            start.wait()
            response = APIClient().get("/api/health/")
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    # when 50 anonymous callers ask at the same moment
    threads = [threading.Thread(target=call) for _ in range(CONCURRENT_CALLS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # then all are answered, with the same report, computed by one of them only
    assert len(answers) == CONCURRENT_CALLS
    assert {code for code, _ in answers} == {200}
    assert len({str(body) for _, body in answers}) == 1
    assert len(refreshes) == 1
    # and asking again at once is answered from the cache, not recomputed
    APIClient().get("/api/health/")
    assert len(refreshes) == 1


@pytest.mark.django_db
def test_the_answer_is_refreshed_after_a_few_seconds(refreshes, settings, api_client, monkeypatch):
    settings.CELERY_BROKER_URL = broker_url()
    clock = [1000.0]
    # Only the health module's clock: patching time.time itself would reach every other module.
    monkeypatch.setattr(
        health, "time", SimpleNamespace(time=lambda: clock[0], monotonic=time.monotonic, sleep=time.sleep)
    )

    api_client.get("/api/health/")
    clock[0] += health.HEALTH_CACHE_SECONDS - 0.5
    api_client.get("/api/health/")
    assert len(refreshes) == 1

    clock[0] += 1.0
    api_client.get("/api/health/")
    assert len(refreshes) == 2


@pytest.mark.integration
@pytest.mark.django_db
def test_workers_are_counted_from_their_heartbeat_and_drop_out_when_stopped(settings, tmp_path):
    # given a real worker, and none else alive on this broker
    settings.CELERY_BROKER_URL = broker_url()
    client = redis.Redis.from_url(broker_url())
    for key in client.scan_iter(match=f"{WORKER_ALIVE_PREFIX}*"):
        client.delete(key)
    worker = start_worker(name="heartbeat", tmp_dir=tmp_path, concurrency=1)
    try:
        # then its heartbeat key is there and the count says one, with no broadcast
        assert client.exists(f"{WORKER_ALIVE_PREFIX}{worker.name}")
        assert health.live_workers() == 1
        assert 0 < client.ttl(f"{WORKER_ALIVE_PREFIX}{worker.name}") <= 15
    finally:
        worker.stop()
    # and a cleanly stopped worker is no longer counted
    wait_for(lambda: health.live_workers() == 0, timeout=10, what="the stopped worker to drop out")


@pytest.mark.django_db
def test_health_answers_at_once_when_the_cache_does_not_answer(settings, api_client, monkeypatch):
    # given a shared cache whose Redis is down (it fails open: every read a miss)
    import time

    from lms.cache import SharedRedisCache
    from tests.processes import free_port

    down = SharedRedisCache(
        f"redis://127.0.0.1:{free_port()}/0",
        {"KEY_PREFIX": "lms-cache", "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2}},
    )
    monkeypatch.setattr(health, "cache", down)
    settings.CELERY_BROKER_URL = broker_url()

    started = time.monotonic()
    response = api_client.get("/api/health/")

    # then it computes the answer itself instead of waiting for a refresher that is not there
    assert response.status_code == 200
    assert time.monotonic() - started < health.FIRST_ANSWER_WAIT_SECONDS
