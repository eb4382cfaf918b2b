"""Real processes for integration tests: celery workers, beat and flower.

They run against the pytest-django test database on PostgreSQL and the broker named by
CELERY_BROKER_URL. A missing service fails the test with what to do; nothing is skipped.
"""

import base64
import email
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parent.parent
ALL_QUEUES = ("default", "emails", "certificates", "progress")
# Announcements: tests that follow them start a worker of their own on it, with their own SMTP
# server, so the shared worker (on ALL_QUEUES, writing mail to files) never takes their jobs.
BULK_QUEUE = "bulk"
FILE_EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"


def wait_for(
    predicate: Callable[[], object],
    *,
    timeout: float = 30.0,
    interval: float = 0.2,
    what: str = "condition",
    left: Callable[[], str] | None = None,
):
    """Poll until `predicate()` is truthy and return its value; fail the test after `timeout`,
    saying what `left()` (if given) reports is still outstanding."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            outstanding = f": {left()}" if left else ""
            pytest.fail(f"Timed out after {timeout:.0f}s waiting for {what}{outstanding}")
        time.sleep(interval)


def broker_url() -> str:
    url = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL")
    if not url:
        pytest.fail(
            "This test needs a real broker: set CELERY_BROKER_URL=redis://127.0.0.1:6379/15 "
            "(scripts/test does it for you)."
        )
    return url


def shared_database_url() -> str:
    """The URL of the database pytest-django created, for processes we start."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.fail(
            "Worker tests need PostgreSQL shared with the worker: set "
            "DATABASE_URL=postgres://postgres@127.0.0.1:5432/lms (scripts/test does it for you)."
        )
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def process_env(*, mail_dir: Path, media_dir: Path | None = None, **overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    if media_dir is not None:
        env["MEDIA_ROOT"] = str(media_dir)
    env.update(
        DATABASE_URL=shared_database_url(),
        CELERY_BROKER_URL=broker_url(),
        TASKS_FORCE_INLINE="false",
        EMAIL_BACKEND=FILE_EMAIL_BACKEND,
        EMAIL_FILE_PATH=str(mail_dir),
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


def broker_purge(queues=ALL_QUEUES) -> None:
    """Start from an empty broker: no message left over from an earlier run."""
    from lms.celery import app

    url = broker_url()
    if url.startswith("redis"):
        import redis

        redis.Redis.from_url(url).flushdb()
        return
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in queues:
            channel.queue_declare(queue=queue, durable=True, auto_delete=False)
            channel.queue_purge(queue)


def queue_sizes(queues=ALL_QUEUES) -> dict[str, int]:
    from lms.celery import app

    with app.connection_for_read() as conn:
        channel = conn.default_channel
        # A plain (not passive) declare with Celery's own arguments: Redis has no key for an
        # empty queue, so a passive declare would fail there.
        return {q: channel.queue_declare(queue=q, durable=True, auto_delete=False).message_count for q in queues}


@dataclass(kw_only=True)
class ServiceProcess:
    """A process a test started (worker, beat, flower, web): its log, whether it runs, stopping
    it. Each runs in a process group of its own, so a test can signal parent and children."""

    name: str
    proc: subprocess.Popen
    log_path: Path
    extra: dict = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_log(self, text: str, *, timeout: float = 30.0) -> str:
        """Wait until the process has logged `text`; fail (with the log) if it exits first."""

        def logged():
            if text in self.log():
                return True
            if not self.alive():
                pytest.fail(
                    f"{self.name} exited with {self.proc.returncode} before logging {text!r}:\n{self.log()[-4000:]}"
                )
            return False

        wait_for(logged, timeout=timeout, interval=0.2, what=f"{self.name} to log {text!r}")
        return self.log()

    def signal(self, sig: int) -> None:
        if self.alive():
            os.killpg(self.proc.pid, sig)

    def kill_group(self) -> None:
        """SIGKILL the process and every child, at once."""
        if self.alive():
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self, timeout: float = 30.0) -> None:
        """Warm shutdown (SIGTERM: a worker finishes its jobs, beat releases its lock); SIGKILL the
        whole group if it does not exit in time."""
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


@dataclass(kw_only=True)
class CeleryProcess(ServiceProcess):
    mail_dir: Path
    media_dir: Path
    queues: tuple[str, ...] = ALL_QUEUES

    def ping(self, timeout: float = 1.0) -> bool:
        from lms.celery import app

        return bool(app.control.ping(destination=[self.name], timeout=timeout))

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                pytest.fail(f"Worker {self.name} exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            if self.ping(timeout=0.5):
                return
        self.stop()
        pytest.fail(f"Worker {self.name} not ready after {timeout:.0f}s:\n{self.log()[-4000:]}")

    def busy(self) -> bool:
        from lms.celery import app

        inspect = app.control.inspect(destination=[self.name], timeout=1.0)
        active = (inspect.active() or {}).get(self.name, [])
        reserved = (inspect.reserved() or {}).get(self.name, [])
        return bool(active or reserved)

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait until the queues are empty and the worker runs nothing."""
        wait_for(
            lambda: not any(queue_sizes(self.queues).values()) and not self.busy(),
            timeout=timeout,
            interval=0.3,
            what=f"worker {self.name} to become idle",
        )


def start_worker(
    *,
    name: str,
    tmp_dir: Path,
    queues=ALL_QUEUES,
    concurrency: int = 2,
    extra_args=(),
    env_overrides: dict[str, str] | None = None,
    mail_dir: Path | None = None,
    wait: bool = True,
) -> CeleryProcess:
    mail_dir = mail_dir or tmp_dir / "mail"
    mail_dir.mkdir(parents=True, exist_ok=True)
    media_dir = tmp_dir / "media"
    media_dir.mkdir(parents=True, exist_ok=True)
    log_path = tmp_dir / f"{name}.log"
    full_name = f"{name}@lms-test"
    command = [
        sys.executable, "-m", "celery", "-A", "lms", "worker",
        "-Q", ",".join(queues),
        "-c", str(concurrency),
        "-n", full_name,
        "--without-gossip", "--without-mingle",
        "-l", "INFO",
        *extra_args,
    ]  # fmt: skip
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=process_env(mail_dir=mail_dir, media_dir=media_dir, **(env_overrides or {})),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a test can kill parent + children
        )
    worker = CeleryProcess(
        name=full_name, proc=proc, log_path=log_path, mail_dir=mail_dir, media_dir=media_dir, queues=tuple(queues)
    )
    if wait:
        worker.wait_ready()
    return worker


def read_mail(mail_dir: Path) -> list[email.message.Message]:
    """Every message the file e-mail backend wrote under `mail_dir`."""
    separator = b"\n" + b"-" * 79 + b"\n"
    messages = []
    for path in sorted(mail_dir.glob("*.log")):
        for chunk in path.read_bytes().split(separator):
            if chunk.strip():
                messages.append(email.message_from_bytes(chunk))
    return messages


def mail_to(mail_dir: Path, address: str) -> list[email.message.Message]:
    return [m for m in read_mail(mail_dir) if m["To"] == address]


def text_body(message: email.message.Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode()
    return ""


# --- beat and flower ---------------------------------------------------------------------------

BEAT_SENT = "Sending due task"


def start_beat(
    *,
    name: str,
    tmp_dir: Path,
    env_overrides: dict[str, str] | None = None,
    wait: bool = True,
    extra_args: tuple[str, ...] = (),
    max_interval: int | None = 1,
) -> ServiceProcess:
    """`celery -A lms beat` with the scheduler from settings (the single-beat lock included).
    `max_interval` None: beat's own loop interval from settings (CELERY_BEAT_MAX_LOOP_INTERVAL)."""
    log_path = tmp_dir / f"{name}.log"
    # Ticks at least every second by default, so tests see changes quickly.
    interval = ("--max-interval", str(max_interval)) if max_interval is not None else ()
    command = [sys.executable, "-m", "celery", "-A", "lms", "beat", "-l", "INFO", *interval,
               "-s", str(tmp_dir / f"{name}-schedule"), *extra_args]  # fmt: skip
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=process_env(mail_dir=tmp_dir / "mail", **(env_overrides or {})),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    beat = ServiceProcess(name=name, proc=proc, log_path=log_path)
    if wait:
        _stop_on_failure(beat, lambda: beat.wait_log("beat: Starting..."))
    return beat


def _stop_on_failure(process: ServiceProcess, wait: Callable[[], object]) -> None:
    """Run `wait`; if it fails, stop the process first: none may outlive its test."""
    try:
        wait()
    except BaseException:
        process.stop(timeout=10)
        raise


def beat_sends(beat: ServiceProcess, schedule_name: str) -> int:
    """How many times this beat sent the periodic task `schedule_name`."""
    return beat.log().count(f"{BEAT_SENT} {schedule_name} (")


# --- flower ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, *, auth: tuple[str, str] | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    """(status, body) of a GET, without raising on 4xx/5xx."""
    request = urllib.request.Request(url)  # noqa: S310 - a local test server
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def start_flower(
    *,
    tmp_dir: Path,
    basic_auth: str | None,
    env_overrides: dict[str, str] | None = None,
    wait: bool = True,
    cwd: Path | None = None,
) -> ServiceProcess:
    """`celery -A lms flower` on a free port; `.extra["url"]` is its address. From `cwd` (the
    project folder by default; elsewhere the project is found through PYTHONPATH)."""
    port = free_port()
    log_path = tmp_dir / "flower.log"
    env = process_env(mail_dir=tmp_dir / "mail", **(env_overrides or {}))
    env.pop("FLOWER_BASIC_AUTH", None)
    if basic_auth is not None:
        env["FLOWER_BASIC_AUTH"] = basic_auth
    if cwd is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "celery", "-A", "lms", "flower", f"--port={port}"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command, cwd=cwd or ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    flower = ServiceProcess(name="flower", proc=proc, log_path=log_path, extra={"url": f"http://127.0.0.1:{port}"})
    if wait:
        _stop_on_failure(flower, lambda: flower.wait_log("Visit me at"))
        _stop_on_failure(
            flower,
            lambda: wait_for(
                lambda: _answers(flower.extra["url"] + "/healthcheck"), timeout=15, what="flower to answer"
            ),
        )
    return flower


def _answers(url: str) -> bool:
    try:
        return http_get(url, timeout=1)[0] < 500
    except OSError:
        return False
