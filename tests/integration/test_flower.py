"""Flower on a real process: basic auth required, the live worker listed, no start with malformed
credentials (no credentials at all: tests/security/test_flower_anywhere.py, from any folder)."""

import json

import pytest

from tests.processes import http_get, start_flower, wait_for

pytestmark = pytest.mark.integration

CREDENTIALS = ("ops", "a-long-flower-password")


@pytest.fixture(scope="module")
def flower(celery_worker, tmp_path_factory):
    process = start_flower(
        tmp_dir=tmp_path_factory.mktemp("flower"), basic_auth=":".join(CREDENTIALS), env_overrides={"DEBUG": "false"}
    )
    yield process
    process.stop()


def test_flower_answers_401_without_credentials_and_200_with_them(flower):
    url = flower.extra["url"]

    assert http_get(url + "/")[0] == 401
    assert http_get(url + "/", auth=("ops", "wrong-password"))[0] == 401
    assert http_get(url + "/", auth=CREDENTIALS)[0] == 200
    assert http_get(url + "/api/workers")[0] == 401


def test_flower_api_lists_the_live_worker(flower, celery_worker):
    # when the workers API is asked to refresh (Flower inspects the cluster)
    def listed():
        status, body = http_get(flower.extra["url"] + "/api/workers?refresh=1", auth=CREDENTIALS)
        return status == 200 and json.loads(body)

    workers = wait_for(listed, timeout=20, what="Flower to list workers")

    # then it lists the running worker, with the queues it consumes
    assert celery_worker.name in workers
    queues = {queue["name"] for queue in workers[celery_worker.name]["active_queues"]}
    assert queues == {"default", "emails", "certificates", "progress"}


def test_flower_listens_on_loopback_by_default(flower):
    assert f"Visit me at http://127.0.0.1:{flower.extra['url'].rsplit(':', 1)[1]}" in flower.log()


def test_flower_refuses_malformed_credentials(celery_worker, tmp_path):
    process = start_flower(tmp_dir=tmp_path, basic_auth="ops", env_overrides={"DEBUG": "false"}, wait=False)

    try:
        returncode = process.proc.wait(timeout=30)
    finally:
        process.stop()
    assert returncode != 0
    assert "user:password pairs" in process.log()
