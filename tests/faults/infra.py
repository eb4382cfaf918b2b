"""Processes and services the fault suite starts, stops and kills, all on loopback.

Each fault test gets a broker of its own: a Redis server started by the test on a free port
(so stopping it disturbs nobody), or a RabbitMQ virtual host on the local RabbitMQ. Web and
worker processes run against the pytest-django test database on PostgreSQL.
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import kombu.exceptions
import kombu.pools
import pytest
import redis.exceptions
from kombu import Connection

from tests.processes import ALL_QUEUES, ROOT, ServiceProcess, process_env, read_mail, wait_for

RABBITMQ_URL = os.environ.get("LMS_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672")


# Every injection and invariant line of this session, shown again in pytest's terminal summary
# (test output is captured, so CI would not show it otherwise).
REPORT: list[str] = []


def report(line: str) -> None:
    # e.g. "tests/faults/test_x.py::test_y[redis] (call)" -> "test_y[redis]"
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split("::")[-1].split(" ")[0]
    REPORT.append(f"{test}: {line}" if test else line)
    print(line)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class RedisServer:
    """A throw-away redis-server on a free port; stop() and start() simulate an outage."""

    def __init__(self, tmp_dir: Path):
        self.port = free_port()
        self.dir = tmp_dir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        try:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
        except FileNotFoundError:
            pytest.fail("The fault suite needs redis-server on PATH (scripts/test uses the machine's Redis).")
        wait_for(lambda: port_open(self.port), timeout=10, what="redis-server to listen")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        wait_for(lambda: not port_open(self.port), timeout=10, what="redis-server to stop")


def rabbitmqctl(*args: str) -> None:
    try:
        result = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        pytest.fail("The fault suite needs rabbitmqctl (RabbitMQ) on PATH; scripts/test starts RabbitMQ.")
    if result.returncode:
        pytest.fail(f"rabbitmqctl {' '.join(args)} failed: {result.stderr or result.stdout}")


@contextlib.contextmanager
def rabbitmq_vhost():
    """A virtual host of its own on the local RabbitMQ, deleted afterwards (with any leftovers)."""
    if not port_open(5672):
        pytest.fail("The fault suite needs RabbitMQ on 127.0.0.1:5672 (scripts/test starts it).")
    vhost = f"lms_faults_{os.getpid()}_{int(time.time())}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield f"{RABBITMQ_URL}/{vhost}"
    finally:
        rabbitmqctl("delete_vhost", vhost)


def queue_sizes(url: str, queues=ALL_QUEUES) -> dict[str, int]:
    with Connection(url, connect_timeout=2) as conn:
        channel = conn.default_channel
        return {q: channel.queue_declare(queue=q, durable=True, auto_delete=False).message_count for q in queues}


def purge(url: str, queues=ALL_QUEUES) -> None:
    with Connection(url, connect_timeout=2) as conn:
        if url.startswith("redis"):
            conn.default_channel.client.flushdb()
            return
        channel = conn.default_channel
        for queue in queues:
            channel.queue_declare(queue=queue, durable=True, auto_delete=False)
            channel.queue_purge(queue)


@contextlib.contextmanager
def app_on_broker(url: str):
    """Point this process's Celery app (publishing, remote control) at the broker under test."""
    from lms.celery import app

    def reset_pools():
        # Connections and producers are pooled, per app and in kombu's registries keyed by
        # broker URL: close and forget them all so the next use connects to the new URL.
        kombu.pools.reset()
        if app._pool is not None:
            app._pool.force_close_all()
        app._pool = None
        app.amqp._producer_pool = None

    # Celery reads CELERY_BROKER_URL from the environment before its own configuration.
    previous_env, previous_conf = os.environ.get("CELERY_BROKER_URL"), app.conf.broker_url
    os.environ["CELERY_BROKER_URL"] = app.conf.broker_url = url
    reset_pools()
    try:
        yield app
    finally:
        app.conf.broker_url = previous_conf
        if previous_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = previous_env
        reset_pools()


def wait_until_done(stack: "Stack", *, certificates: int, timeout: float, what: str = "all certificates") -> None:
    """Wait until `certificates` certificates exist and nothing is left anywhere (queues, outbox,
    workers); on timeout the failure says what is left."""
    from certificates.models import Certificate

    wait_for(
        lambda: Certificate.objects.count() == certificates and stack.drained(),
        timeout=timeout,
        what=what,
        left=lambda: f"{Certificate.objects.count()} of {certificates} certificates; {stack.backlog() or 'drained'}",
    )


def send(task_name: str, *args, task_id: str | None = None, **kwargs) -> str:
    """Publish a job the way the app does (same routes, JSON) to the broker under test."""
    from lms.celery import app

    return app.send_task(task_name, args=list(args), kwargs=kwargs, task_id=task_id).id


def spawn(command: list[str], *, name: str, tmp_dir: Path, env: dict[str, str]) -> ServiceProcess:
    log_path = tmp_dir / f"{name}.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return ServiceProcess(name=name, proc=proc, log_path=log_path)


class Stack:
    """Web, worker and beat processes of one fault test, sharing its broker, mail and media."""

    def __init__(self, *, broker_url: str, tmp_dir: Path, env: dict[str, str] | None = None):
        self.broker_url = broker_url
        self.tmp_dir = tmp_dir
        self.mail_dir = tmp_dir / "mail"
        self.media_dir = tmp_dir / "media"
        self.mail_dir.mkdir(exist_ok=True)
        self.media_dir.mkdir(exist_ok=True)
        self.extra_env = env or {}
        self.processes: list[ServiceProcess] = []
        self._workers = 0
        # Unique per test: a worker that outlived an earlier test can never answer for this one.
        self._name_prefix = f"fault-{time.monotonic_ns() % 10**8}"

    def env(self, **overrides: str) -> dict[str, str]:
        return process_env(
            mail_dir=self.mail_dir,
            media_dir=self.media_dir,
            CELERY_BROKER_URL=self.broker_url,
            AUTH_THROTTLE_RATE="100000/min",
            **{**self.extra_env, **overrides},
        )

    def worker(self, *, concurrency: int = 2, queues=ALL_QUEUES, wait: bool = True, **env: str) -> ServiceProcess:
        self._workers += 1
        name = f"{self._name_prefix}-{self._workers}@lms-test"
        command = [
            sys.executable, "-m", "celery", "-A", "tests.faults.fault_app", "worker", "-Q", ",".join(queues),
            "-c", str(concurrency), "-n", name, "--without-gossip", "--without-mingle", "-l", "INFO",
        ]  # fmt: skip
        worker = spawn(command, name=name, tmp_dir=self.tmp_dir, env=self.env(**env))
        self.processes.append(worker)
        if wait:
            self.wait_worker(worker)
        return worker

    def wait_worker(self, worker: ServiceProcess, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not worker.alive():
                pytest.fail(f"Worker {worker.name} exited:\n{worker.log()[-4000:]}")
            from lms.celery import app

            with contextlib.suppress(Exception):
                if app.control.ping(destination=[worker.name], timeout=0.5):
                    return
        pytest.fail(f"Worker {worker.name} not ready after {timeout:.0f}s:\n{worker.log()[-4000:]}")

    def active(self, worker: ServiceProcess) -> list[dict]:
        from lms.celery import app

        replies = app.control.inspect(destination=[worker.name], timeout=1.0).active() or {}
        return replies.get(worker.name, [])

    def web(self) -> "Web":
        port = free_port()
        command = [
            sys.executable, "-m", "gunicorn", "lms.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
            "--timeout", "30", "--access-logfile", "-",
        ]  # fmt: skip
        web = Web(spawn(command, name="web", tmp_dir=self.tmp_dir, env=self.env()), port)
        self.processes.append(web.process)
        wait_for(lambda: web.ready(), timeout=30, what="gunicorn to answer")
        return web

    def beat(self, **env: str) -> ServiceProcess:
        command = [sys.executable, "-m", "celery", "-A", "lms", "beat", "-S", "django", "-l", "INFO",
                   "--schedule", str(self.tmp_dir / "beat-schedule")]  # fmt: skip
        beat = spawn(command, name="beat", tmp_dir=self.tmp_dir, env=self.env(**env))
        self.processes.append(beat)
        return beat

    def drained(self) -> bool:
        """Nothing queued, prefetched, running or waiting in the outbox (False while the broker
        is unreachable, e.g. just restarted)."""
        return not self.backlog()

    def backlog(self) -> str:
        """What is still queued, prefetched, running or waiting in the outbox, in words; empty
        when everything is drained."""
        try:
            return self._backlog()
        except (OSError, kombu.exceptions.OperationalError, redis.exceptions.ConnectionError) as exc:
            kombu.pools.reset()  # pooled connections died with the broker
            from lms.celery import app

            app._pool = None
            app.amqp._producer_pool = None
            return f"broker unreachable ({exc})"

    def _backlog(self) -> str:
        from lms.celery import app
        from lms.models import OutboxMessage

        queued = {name: size for name, size in queue_sizes(self.broker_url).items() if size}
        if queued:
            return f"queued {queued}"
        outbox = list(OutboxMessage.objects.values_list("task_name", flat=True)[:20])
        if outbox:
            return f"waiting in the outbox {outbox}"
        if self.broker_url.startswith("redis") and (unacked := redis.Redis.from_url(self.broker_url).hlen("unacked")):
            # delivered to a worker that died: back in its queue after the visibility timeout
            return f"{unacked} delivered but unacknowledged"
        names = [p.name for p in self.processes if p.name.startswith("fault") and p.alive()]
        if not names:
            return ""
        inspect = app.control.inspect(destination=names, timeout=1.0)
        busy = [*((inspect.active() or {}).values()), *((inspect.reserved() or {}).values()),
                *((inspect.scheduled() or {}).values())]  # fmt: skip
        jobs = [job.get("name") for jobs in busy for job in jobs]
        return f"on the workers {jobs}" if jobs else ""

    def beat_sweeping_outbox_every_second(self) -> ServiceProcess:
        """Beat, running the outbox sweep (every minute in production) every second, so what a
        dead process left between its commit and its publish is published."""
        from django_celery_beat.models import IntervalSchedule, PeriodicTask

        every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
        PeriodicTask.objects.create(
            name="outbox-sweep",
            task="lms.tasks.dispatch_outbox",
            interval=every_second,
            kwargs=json.dumps({"grace_seconds": 1}),
        )
        return self.beat()

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()


@dataclass
class Web:
    process: ServiceProcess
    port: int

    def ready(self) -> bool:
        if not self.process.alive():
            pytest.fail(f"gunicorn exited:\n{self.process.log()[-4000:]}")
        try:
            return self.request("GET", "/api/courses/")[0] == 200
        except OSError:
            return False

    def request(self, method: str, path: str, body: dict | None = None, token: str | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


# --- Invariants ------------------------------------------------------------------------------


def check_invariants(stack: Stack, *, label: str, expect_certificates: int | None = None) -> dict:
    """Every job done exactly once in effect, and nothing left anywhere. Prints the counts."""
    from certificates.models import Certificate
    from enrollments.models import Enrollment
    from lms.models import OutboxMessage
    from notifications.models import Notification
    from tests.enrollments.test_progress import expected, stored

    completed = set(Enrollment.objects.filter(status="completed").values_list("pk", flat=True))
    certified = list(Certificate.objects.values_list("enrollment_id", flat=True))
    files = sorted(p.name for p in (stack.media_dir / "certificates").glob("*.pdf"))
    mails = Counter(m["X-LMS-Notification"] for m in read_mail(stack.mail_dir))
    sent = set(str(pk) for pk in Notification.objects.filter(status="sent").values_list("pk", flat=True))
    progress_ok = all(
        stored(course) == expected(course) for course in {e.course for e in Enrollment.objects.select_related("course")}
    )
    counts = {
        "lost": len(completed - set(certified)) + len(sent - set(mails)) + sum(1 for k in mails if k not in sent),
        "duplicated": (len(certified) - len(set(certified))) + sum(n - 1 for n in mails.values() if n > 1),
        "certificates": len(certified),
        "pdf_files": len(files),
        "emails": sum(mails.values()),
        "queued": sum(queue_sizes(stack.broker_url).values()),
        "unsent": Notification.objects.filter(status="pending").count(),
        "outbox": OutboxMessage.objects.count(),
    }
    report(f"[{label}] invariants: " + ", ".join(f"{k} = {v}" for k, v in counts.items()))
    assert counts["lost"] == 0 and counts["duplicated"] == 0, counts
    assert counts["pdf_files"] == counts["certificates"], "a PDF without its row (or the reverse)"
    assert counts["queued"] == 0 and counts["outbox"] == 0, "queues not drained"
    assert counts["unsent"] == 0, "e-mails left pending with no job to send them"
    assert progress_ok, "stored progress differs from a from-scratch recompute"
    if expect_certificates is not None:
        assert counts["certificates"] == expect_certificates
    return counts
