"""The README's "Running every process locally", followed as written on a fresh copy.

The copy holds what a clone would (the repository's files, uncommitted changes included) plus
this checkout's .venv, linked so nothing is downloaded. As the README says: `.env` from
`.env.example` (edited to name this test's own new database, Redis db and free ports), then
`./scripts/stack`, which migrates and starts every process of the Procfile with honcho. The
test registers through the API, finds both e-mails and the installed schedules, and stops it.
The stack has a PostgreSQL database and a Redis server of its own (a throw-away redis-server on
a free port): the suite's shared worker must not take its jobs.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from lms.services import DEFAULT_SCHEDULES
from tests.faults.infra import RedisServer
from tests.processes import ROOT, shared_database_url, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

README_COMMANDS = ["cp .env.example .env", "./scripts/stack"]
PROCFILE_PROCESSES = ("web", "worker_emails", "worker_certificates", "worker_progress", "beat", "flower")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def copy_of_the_repository(target: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(ROOT / ".venv")
    return target


def edit_env(path: Path, **values: str) -> None:
    lines = [line for line in path.read_text().splitlines() if line.split("=", 1)[0] not in values]
    path.write_text("\n".join([*lines, *(f"{key}={value}" for key, value in values.items())]) + "\n")


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def fresh_database():
    """A new, empty PostgreSQL database next to the test database; dropped afterwards."""
    parts = urlsplit(shared_database_url())
    name = f"{parts.path.lstrip('/')}_first_run"
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_readme_local_stack_runs_every_process_and_sends_both_emails(tmp_path, fresh_database, own_redis):
    # given the README's commands, and a fresh copy of the repository
    section = readme_section("Running every process locally")
    assert all(command in section for command in README_COMMANDS), section
    clone = copy_of_the_repository(tmp_path / "lms")
    web_port, flower_port = free_port(), free_port()
    # A shell as a person has it: none of the test run's own settings.
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CELERY_", "REDIS_", "DJANGO_", "LMS_"))
    }
    log_path = tmp_path / "stack.log"

    # when they are run: `.env` from the example (pointed at this test's database, Redis db and
    # ports), then scripts/stack
    subprocess.run(["bash", "-c", README_COMMANDS[0]], cwd=clone, env=env, check=True)
    edit_env(
        clone / ".env",
        DATABASE_URL=fresh_database,
        CELERY_BROKER_URL=own_redis,
        FRONTEND_URL=f"http://127.0.0.1:{web_port}",
        GUNICORN_CMD_ARGS=f"--bind=127.0.0.1:{web_port}",
        FLOWER_PORT=str(flower_port),
    )
    with log_path.open("wb") as log:
        stack = subprocess.Popen(
            ["bash", "-c", README_COMMANDS[1]], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{web_port}"

        def answers(url: str) -> bool:
            if stack.poll() is not None:
                pytest.fail(f"scripts/stack exited with {stack.returncode}:\n{log_path.read_text()[-6000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - a loopback URL we built
                    return True
            except urllib.error.HTTPError:
                return True  # it answered (Flower asks for credentials)
            except OSError:
                return False

        wait_for(lambda: answers(f"{base}/api/health/"), timeout=240, interval=1, what="the web process")
        wait_for(lambda: answers(f"http://127.0.0.1:{flower_port}/"), timeout=60, interval=1, what="flower")
        # then migrate installed every default schedule, so admin lists them from the start
        with psycopg.connect(fresh_database) as conn:
            names = {row[0] for row in conn.execute("SELECT name FROM django_celery_beat_periodictask")}
        assert names == {d.name for d in DEFAULT_SCHEDULES}

        # and a learner who registers through the API gets both e-mails from the emails worker
        request = urllib.request.Request(  # noqa: S310 - a loopback URL we built
            f"{base}/api/auth/register/",
            data=json.dumps(
                {"email": "ada@example.com", "password": "correct-horse-battery-9", "full_name": "Ada"}
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            assert response.status == 201
        mail_dir = clone / "var" / "mail"
        try:
            files = wait_for(
                lambda: mail_dir.is_dir() and len(list(mail_dir.iterdir())) >= 2 and list(mail_dir.iterdir()),
                timeout=90,
                what="the welcome and verification e-mails",
            )
        except pytest.fail.Exception:
            print(log_path.read_text()[-8000:])
            raise
        texts = [path.read_text() for path in files]
        assert sorted(re.search(r"^Subject: (.*)$", t, re.M).group(1) for t in texts) == [
            "Confirm your e-mail address",
            "Welcome to LMS, Ada",
        ]
        # and the verification link in it opens its page on this web process
        link = re.search(rf"{re.escape(base)}/verify-email\?token=\S+", "\n".join(texts)).group(0)
        with urllib.request.urlopen(link, timeout=10) as page:  # noqa: S310
            assert page.status == 200 and b"Confirm my address" in page.read()
        # and every process of the Procfile was started
        log = log_path.read_text()
        assert all(f"{name}.1" in log for name in PROCFILE_PROCESSES), log[-6000:]
    finally:
        # when it is stopped (Ctrl-C: honcho stops every process)
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGINT)
        try:
            stack.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
            stack.wait(timeout=10)
            pytest.fail(f"scripts/stack did not stop on Ctrl-C:\n{log_path.read_text()[-4000:]}")
    # then nothing of it is left running
    assert subprocess.run(["pgrep", "-s", str(stack.pid)], capture_output=True).stdout == b""
