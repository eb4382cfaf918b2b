"""What the end-to-end benchmarks share: their own database and Redis, real processes, CPU
accounting from /proc, percentiles, the machine's versions and the results file.

A benchmark owns its database: it creates it if missing, migrates it, and empties the tables it
fills (TRUNCATE). So it refuses a database whose name does not say "bench" or "test". Redis is a
throw-away `redis-server` on a free port unless --broker-url names one, which is then flushed:
give it a database of its own (e.g. redis://127.0.0.1:6379/10).

Every process a benchmark starts runs in a process group of its own and is stopped (SIGTERM,
then SIGKILL of the group) when the benchmark ends, however it ends.
"""

import argparse
import contextlib
import datetime
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/lms_bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- Arguments every end-to-end benchmark takes ----------------------------------------------


def add_service_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="PostgreSQL database of the benchmark's own, created and migrated if needed; its tables are emptied "
        f"(default $BENCH_DATABASE_URL or {DEFAULT_DATABASE_URL})",
    )
    parser.add_argument(
        "--broker-url",
        default=os.environ.get("BENCH_BROKER_URL"),
        help="Redis database to use (flushed!) instead of a throw-away redis-server on a free port",
    )


# --- Database ----------------------------------------------------------------------------------


def _check_database_name(url: str) -> str:
    name = urlsplit(url).path.lstrip("/")
    if "bench" not in name and "test" not in name:
        sys.exit(f"Refusing to use database {name!r}: a benchmark empties its tables; name one with 'bench' in it.")
    return name


def ensure_database(url: str) -> None:
    """CREATE DATABASE if it does not exist yet (connecting to the server's `postgres` database)."""
    import psycopg
    from psycopg import sql

    name = _check_database_name(url)
    parts = urlsplit(url)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")


def setup_django(*, database_url: str, broker_url: str, **env: str) -> None:
    """Configure this process like a web or worker process of the app and set Django up."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="lms.settings",
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        TASKS_FORCE_INLINE="false",
        **env,
    )
    import django

    django.setup()


def migrate_if_needed() -> None:
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        print("migrating the benchmark database ...", flush=True)
        call_command("migrate", verbosity=0)


def truncate(*models) -> None:
    """Empty the tables of `models` and everything that references them."""
    from django.db import connection

    tables = ", ".join(connection.ops.quote_name(model._meta.db_table) for model in models)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} CASCADE")


def vacuum_analyze(*models) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


# --- Redis -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def redis_broker(url: str | None, *, tmp_dir: Path) -> Iterator[str]:
    """The broker URL to use: `url` (flushed first), or a redis-server of our own for the run."""
    import redis

    if url:
        redis.Redis.from_url(url).flushdb()
        yield url
        return
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", str(tmp_dir), "--logfile", str(tmp_dir / "redis.log")]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: _port_open(port), timeout=10, what="redis-server to listen")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.kill()
        proc.wait(timeout=10)


def redis_server_version(url: str) -> str:
    import redis

    return redis.Redis.from_url(url).info("server")["redis_version"]


# --- Processes ---------------------------------------------------------------------------------


def wait_for(predicate: Callable[[], object], *, timeout: float, interval: float = 0.1, what: str):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
    return value


class Process:
    """A process this benchmark started, in a process group of its own, logging to a file."""

    def __init__(self, name: str, command: list[str], *, env: dict[str, str], log_path: Path):
        self.name = name
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def check_alive(self) -> None:
        if not self.alive():
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        # Pool children of a process that exited still belong to its group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


class Processes(contextlib.ExitStack):
    """Starts processes and stops every one of them on exit (SIGTERM to us is an exit too)."""

    def __enter__(self):
        super().__enter__()
        previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        self.callback(signal.signal, signal.SIGTERM, previous)
        return self

    def start(self, name: str, command: list[str], *, env: dict[str, str], log_path: Path) -> Process:
        process = Process(name, command, env=env, log_path=log_path)
        self.callback(process.stop)
        return process


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def service_env(*, database_url: str, broker_url: str, **overrides: str) -> dict[str, str]:
    """The environment of a web or worker process of the app, for this benchmark."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="lms.settings",
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        TASKS_FORCE_INLINE="false",
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


def celery_worker_command(*, app: str, name: str, queues: str, concurrency: int, extra=()) -> list[str]:
    """`celery -A <app> worker` as the Procfile runs it (prefork, INFO logs), without the gossip and
    mingle chatter between workers that a lone benchmark worker does not need."""
    return [sys.executable, "-m", "celery", "-A", app, "worker", "-Q", queues, "-c", str(concurrency), "-n", name,
            "-P", "prefork", "--without-gossip", "--without-mingle", "-l", "INFO", *extra]  # fmt: skip


def wait_worker_ready(worker: Process, *, timeout: float = 60.0) -> None:
    from lms.celery import app

    def ready():
        worker.check_alive()
        with contextlib.suppress(Exception):
            return app.control.ping(destination=[worker.name], timeout=0.5)
        return False

    wait_for(ready, timeout=timeout, interval=0, what=f"worker {worker.name}")


class ConsumerSwitch:
    """Holds a worker's queue consumer off while jobs are published, then lets it drain them and
    waits for their SUCCESS rows in django-celery-results (stopping at the first FAILURE)."""

    def __init__(self, app, worker: Process, queue: str, *, poll_seconds: float = 0.05):
        self.app = app
        self.worker = worker
        self.queue = queue
        self.poll_seconds = poll_seconds

    def pause(self) -> None:
        self.app.control.cancel_consumer(self.queue, destination=[self.worker.name], reply=True, timeout=5)

    def resume(self) -> None:
        self.app.control.add_consumer(self.queue, destination=[self.worker.name], reply=True, timeout=5)

    def wait_results(self, n: int, *, timeout: float, what: str = "jobs") -> None:
        from django_celery_results.models import TaskResult

        deadline = time.monotonic() + timeout
        while (done := TaskResult.objects.filter(status="SUCCESS").count()) < n:
            failed = TaskResult.objects.filter(status="FAILURE").first()
            if failed is not None:
                raise RuntimeError(f"a job failed: {failed.task_name} {failed.result}")
            self.worker.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{done} of {n} {what} done after {timeout:.0f}s")
            time.sleep(self.poll_seconds)


def _children(pid: int) -> list[int]:
    found = []
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as file:
                found.extend(int(child) for child in file.read().split())
    return found


def process_tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and all its live descendants (pool processes), from /proc."""
    total = 0.0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        # After the ")" of the command name: state is field 0, utime 11, stime 12 (stat(5) 14, 15).
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
        stack.extend(_children(current))
    return total


@contextlib.contextmanager
def work_dir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"lms-bench-{prefix}-") as path:
        yield Path(path)


# --- Figures and results -----------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    """The p-th percentile (0-100), linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    k = (len(ordered) - 1) * p / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def machine_info(*, broker_url: str | None = None) -> dict:
    from django.db import connection

    info = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "django": version("django"),
        "celery": version("celery"),
        "kombu": version("kombu"),
        "redis_py": version("redis"),
        "psycopg": version("psycopg"),
        "platform": f"{platform.system()} {platform.machine()}",
    }
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        info["postgresql"] = cursor.fetchone()[0].split()[0]
    if broker_url:
        info["redis_server"] = redis_server_version(broker_url)
    return info


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def write_results(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"results written to {path}")


def fmt(value, spec: str = ".1f", missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


@contextlib.contextmanager
def services(name: str, args) -> Iterator[tuple[Path, str]]:
    """What every end-to-end benchmark runs in: its database (created and migrated), a work
    folder and a Redis of its own (or --broker-url), Django set up on them. Yields
    (work folder, broker URL); everything is cleaned up on the way out."""
    ensure_database(args.database_url)
    with work_dir(name) as tmp_dir, redis_broker(args.broker_url, tmp_dir=tmp_dir) as broker:
        setup_django(database_url=args.database_url, broker_url=broker)
        migrate_if_needed()
        yield tmp_dir, broker
