"""Throttles hold as configured (issue 15, item 6).

Attacks: every limit multiplied by the number of gunicorn workers (a per-process cache); the
HTML verification page with no throttle (150 lookups, no 429); a 2,000-term ?search= at 25x the
cost of a normal request. (Reset e-mails per account: tests/security/test_account_secrets.py.)
"""

import json
import subprocess
import sys

import pytest
import redis
from django.core.cache import cache
from django.test import Client

from tests.processes import ROOT, broker_url, shared_database_url
from tests.test_settings import run_python

CACHE_BACKEND = (
    "import json, django; django.setup(); from django.conf import settings as s; print(json.dumps(s.CACHES['default']))"
)


def cache_config(env: dict[str, str]) -> dict:
    result = run_python(CACHE_BACKEND, env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_default_cache_is_the_shared_redis_whenever_a_redis_url_is_configured():
    for env in ({"REDIS_URL": "redis://cache:6379/2"}, {"CELERY_BROKER_URL": "redis://cache:6379/2"}):
        config = cache_config(env)
        assert config["BACKEND"] == "lms.cache.SharedRedisCache", env
        assert config["LOCATION"] == "redis://cache:6379/2"
        assert config["KEY_PREFIX"]


def test_an_explicit_cache_url_wins_and_no_redis_means_a_process_cache():
    explicit = cache_config({"REDIS_URL": "redis://cache:6379/2", "CACHE_URL": "dummycache://"})
    assert explicit["BACKEND"] == "django.core.cache.backends.dummy.DummyCache"
    assert cache_config({})["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    assert cache_config({"CELERY_BROKER_URL": "amqp://guest@rabbit//"})["BACKEND"].endswith("LocMemCache")


def test_clearing_the_shared_cache_leaves_the_brokers_keys_alone():
    client = redis.Redis.from_url(broker_url())
    client.set("not-a-cache-key", "queue data")
    cache.set("mine", 1)
    try:
        cache.clear()
        assert cache.get("mine") is None
        assert client.get("not-a-cache-key") == b"queue data"
    finally:
        client.delete("not-a-cache-key")


@pytest.mark.django_db
def test_a_throttle_used_up_in_one_process_holds_in_another(settings, api_client):
    # given the auth rate used up from one client address in this process
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth": "3/min"},
    }
    for _ in range(3):
        assert (
            api_client.post("/api/auth/password-reset/", {"email": "a@example.com"}, format="json").status_code == 202
        )

    # when another web process (a second gunicorn worker, say) is asked from the same address
    code = (
        "import django; django.setup(); from django.test import Client; "
        "print(Client().post('/api/auth/password-reset/', {'email': 'a@example.com'}, "
        "content_type='application/json').status_code)"
    )
    env = {
        "DATABASE_URL": shared_database_url(),
        "CELERY_BROKER_URL": broker_url(),
        "TASKS_FORCE_INLINE": "true",
        "AUTH_THROTTLE_RATE": "3/min",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**run_env(), **env}, capture_output=True, text=True, timeout=60
    )

    # then it refuses too: the counter lives in the shared cache
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "429"


def run_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CELERY_", "REDIS_", "CACHE_"))}


@pytest.mark.django_db
def test_the_html_verify_page_is_throttled_like_its_json_twin_and_shares_its_budget(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "certificate_verify": "5/min"},
    }
    client = Client()

    # when an enumerator looks numbers up on the page, then on the API
    pages = [client.get(f"/certificates/verify/LMS-NOPE-{n}/").status_code for n in range(4)]
    api = client.get("/api/certificates/verify/LMS-NOPE-5/").status_code
    throttled = client.get("/certificates/verify/LMS-NOPE-6/")

    # then both count against one budget, and the page says 429 in a page, with Retry-After
    assert pages == [404] * 4 and api == 404
    assert throttled.status_code == 429
    assert "Too many lookups" in throttled.content.decode()
    assert int(throttled["Retry-After"]) > 0
    assert client.get("/api/certificates/verify/LMS-NOPE-7/").status_code == 429


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("search", "message"),
    [(" ".join(["python"] * 2000), "at most 200 characters"), (" ".join("abcdefghijk"), "at most 10 words")],
)
def test_unbounded_searches_are_refused_with_a_clear_400(api_client, search, message):
    response = api_client.get("/api/courses/", {"search": search})

    assert response.status_code == 400
    assert message in json.dumps(response.json())


@pytest.mark.django_db
def test_a_normal_search_still_works(api_client):
    assert api_client.get("/api/courses/", {"search": "python basics for data people"}).status_code == 200


def test_the_shared_cache_fails_open_when_redis_does_not_answer():
    from lms.cache import SharedRedisCache
    from tests.processes import free_port

    down = SharedRedisCache(
        f"redis://127.0.0.1:{free_port()}/0",
        {"KEY_PREFIX": "lms-cache", "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2}},
    )

    assert down.get("throttle_auth_1.2.3.4", default=[]) == []
    assert down.add("lock", 1) is False
    down.set("anything", 1)  # dropped, not raised
