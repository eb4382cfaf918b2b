"""Flower refuses to start without credentials whatever its working directory (issue 15, item 4).

Attack: `cd /tmp; celery -A lms flower` with no FLOWER_BASIC_AUTH skipped flowerconfig.py (read
from the working directory) and served every task's arguments and results with no login.
"""

import pytest

from tests.processes import http_get, start_flower

pytestmark = pytest.mark.integration

CREDENTIALS = ("ops", "a-long-flower-password")


@pytest.mark.parametrize("folder", ["project", "elsewhere"])
def test_flower_refuses_to_start_without_credentials_from_any_folder(tmp_path, folder):
    # given a working directory: the project's (with flowerconfig.py), or one with no
    # flowerconfig.py and the project only on PYTHONPATH
    elsewhere = None
    if folder == "elsewhere":
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()

    # when Flower is started there with no FLOWER_BASIC_AUTH and DEBUG off
    process = start_flower(
        tmp_dir=tmp_path, basic_auth=None, env_overrides={"DEBUG": "false"}, wait=False, cwd=elsewhere
    )

    # then it exits at once with the reason, and never serves
    try:
        returncode = process.proc.wait(timeout=60)
    finally:
        process.stop()
    assert returncode != 0
    assert "Refusing to start Flower: FLOWER_BASIC_AUTH is not set" in process.log()
    assert "Visit me at" not in process.log()


def test_flower_started_outside_the_project_folder_with_credentials_asks_for_them(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    process = start_flower(
        tmp_dir=tmp_path, basic_auth=":".join(CREDENTIALS), env_overrides={"DEBUG": "false"}, cwd=elsewhere
    )
    try:
        url = process.extra["url"]
        assert http_get(url + "/tasks")[0] == 401
        assert http_get(url + "/tasks", auth=CREDENTIALS)[0] == 200
        # and it still listens on loopback only by default
        assert "Visit me at http://127.0.0.1:" in process.log()
    finally:
        process.stop()
