"""The per-job cost: real e-mail jobs through Redis and a real worker, beside a no-op of the
same app, a stock Celery app that uses no project code, that app without a result store, and a
raw redis-py loop, all measured side by side in the same run.

    python -m bench pipeline --n 1500     # the figures in docs/benchmarks.md
    python -m bench pipeline --smoke      # tiny sizes, for CI: proves it runs, measures nothing

Subjects, each a 2-process prefork worker of its own (`-c 2`, prefetch 4) on the same
PostgreSQL and Redis; only one drains at a time:
- welcome: notifications.tasks.send_welcome_email for N new users: the job finds the user,
  creates and renders the welcome Notification, and delivers it (Django's locmem backend: no
  SMTP server in the way), through `celery -A bench._pipeline_app` (the project's app).
- notification: notifications.tasks.send_notification for N pending rows created in bulk.
- noop: `bench.noop` (bench/_pipeline_app.py), the project's app, settings and worker, a task
  body that does nothing.
- stock: `stock.noop` through `celery -A bench._stock_app` (bench/_stock_settings.py): no
  project code, Celery's defaults + result_backend="django-db" + result_extended + acks_late.
- ceiling: the same stock app with no result backend (STOCK_RESULT_BACKEND=none).
- redis: LPUSH of a payload of the same size from this process, BRPOP + json.loads in another
  process (bench/_raw_consumer.py): the floor of any Redis queue.

Throughput, per round and subject (the order rotates every round): with the subject's worker's
consumer cancelled, N jobs are enqueued (enqueue rate), then the consumer is added back and the
clock runs until the last result is stored (drain rate = N / (last date_done - resume); for the
ceiling, which stores nothing, until Redis holds neither a queued nor an unacknowledged message,
polled every few milliseconds). CPU per task is the worker's parent + pool processes' CPU time
from /proc, before and after the drain. The welcome enqueue alternates blocks of plain
apply_async with blocks of lms.jobs.dispatch.dispatch_on_commit, each in its own transaction
(outbox row inserted, committed, published, deleted): the outbox's cost.

Latency: afterwards each subject with a result store gets jobs at the same steady rate, half of
the welcome drain rate, while its consumer runs; latency is publish -> done
(TaskResult.date_done, or the BRPOP for the raw loop), p50 and p95.
"""

import argparse
import json
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench import _common as common

RESULTS_FILE = common.RESULTS_DIR / "pipeline.json"
QUEUE = "emails"
STOCK_QUEUES = {"stock": "stock", "ceiling": "ceiling"}
RAW_QUEUE = "bench:raw"
SUBJECTS = ("welcome", "notification", "noop", "stock", "ceiling", "redis")
# Subjects without a result store: drained when Redis holds no message for them.
NO_RESULTS = ("ceiling", "redis")
# Jobs per block when alternating apply_async with dispatch_on_commit: short enough that a
# neighbour's burst lands on both, long enough that the switch costs nothing.
ENQUEUE_BLOCK = 50
USERS = 50
SMOKE = {"n": 40, "rounds": 1, "latency_seconds": 1.0}
POLL_SECONDS = 0.05
# The ceiling drains ~1,000 jobs/s: its end is polled this often (a 1 % error on 1,500 jobs).
CEILING_POLL_SECONDS = 0.002
SUMMARY_KEYS = ("enqueue_per_second", "drain_per_second", "cpu_ms_per_task", "outbox_enqueue_per_second",
                "outbox_ms_per_job", "plain_ms_per_job")  # fmt: skip
TARGET_WELCOME_OVER_STOCK = 0.8
AIM_WELCOME_OVER_STOCK = 1.0


@dataclass
class Subject:
    name: str
    worker: common.Process
    consumer: common.ConsumerSwitch
    queue: str


class Bench:
    def __init__(self, *, broker_url: str, subjects: dict[str, Subject], tmp_dir: Path, processes: common.Processes):
        import redis
        from celery import Celery

        from bench._pipeline_app import app

        self.app = app
        # Publishes to the stock workers as any client of theirs would: a plain Celery app, no
        # Django, no project settings.
        self.stock_client = Celery("stock-client", broker=broker_url, fixups=[], set_as_current=False)
        self.subjects = subjects
        self.broker_url = broker_url
        self.redis = redis.Redis.from_url(broker_url)
        self.tmp_dir = tmp_dir
        self.processes = processes
        self.users = []
        self.body = None
        self.payload_bytes = 0

    # --- data ----------------------------------------------------------------------------------

    def prepare(self) -> None:
        from django_celery_results.models import TaskResult

        from lms.models import OutboxMessage
        from lms.users.models import User
        from notifications.models import Notification
        from notifications.services import notification_render

        common.truncate(Notification, TaskResult, OutboxMessage, User)
        self.users = User.objects.bulk_create(
            User(email=f"pipeline-{i}@example.com", full_name=f"Learner {i}", is_verified=True) for i in range(USERS)
        )
        self.body = notification_render(kind="welcome", context={"user": self.users[0]})
        self.payload_bytes = self._message_size()

    def _message_size(self) -> int:
        """Bytes of one send_notification message as it sits in Redis."""
        from notifications.tasks import send_notification

        send_notification.apply_async(args=[str(uuid.uuid4())])
        size = len(self.redis.lindex(QUEUE, 0))
        self.redis.delete(QUEUE)
        return size

    def job_ids(self, subject: str, n: int) -> list[str]:
        """The argument of each of N jobs: new users (welcome), pending rows (notification)."""
        from lms.users.models import User
        from notifications.models import Notification

        stamp = uuid.uuid4().hex[:8]
        if subject == "welcome":
            users = User.objects.bulk_create(
                User(email=f"welcome-{stamp}-{i}@example.com", full_name=f"Learner {i}", is_verified=True)
                for i in range(n)
            )
            return [str(user.pk) for user in users]
        if subject == "notification":
            rows = Notification.objects.bulk_create(
                Notification(
                    user=self.users[i % len(self.users)],
                    kind=Notification.Kind.WELCOME,
                    dedupe_key=f"bench:{stamp}:{i}",
                    subject=self.body.subject,
                    body=self.body.body,
                    body_html=self.body.body_html,
                )
                for i in range(n)
            )
            return [str(row.pk) for row in rows]
        return [str(uuid.uuid4()) for _ in range(n)]

    # --- publishing ----------------------------------------------------------------------------

    def publish_plain(self, subject: str, job_id: str) -> str:
        """Publish one job; returns its task id."""
        from bench._pipeline_app import NOOP_TASK
        from bench._stock_app import STOCK_NOOP_TASK
        from notifications.tasks import send_notification, send_welcome_email

        if subject == "welcome":
            return send_welcome_email.apply_async(args=[job_id]).id
        if subject == "notification":
            return send_notification.apply_async(args=[job_id]).id
        if subject in STOCK_QUEUES:
            return self.stock_client.send_task(STOCK_NOOP_TASK, args=[job_id], queue=STOCK_QUEUES[subject]).id
        return self.app.send_task(NOOP_TASK, args=[job_id], queue=QUEUE).id

    @staticmethod
    def publish_outbox(user_id: str) -> None:
        from django.db import transaction

        from lms.jobs.dispatch import dispatch_on_commit
        from notifications.tasks import send_welcome_email

        with transaction.atomic():
            dispatch_on_commit(send_welcome_email, user_id)

    def raw_payload(self) -> bytes:
        message = {"ts": time.time(), "id": str(uuid.uuid4()), "pad": ""}
        pad = self.payload_bytes - len(json.dumps(message))
        message["pad"] = "x" * max(pad, 0)
        return json.dumps(message).encode()

    def wait_queue_drained(self, subject: Subject, *, timeout: float) -> float:
        """For a worker that stores no result: the time Redis first held neither a queued nor an
        unacknowledged (acks_late: running) message."""
        deadline = time.monotonic() + timeout
        while self.redis.llen(subject.queue) or self.redis.hlen("unacked"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{subject.queue} not drained after {timeout:.0f}s")
            subject.worker.check_alive()
            time.sleep(CEILING_POLL_SECONDS)
        return time.time()

    # --- throughput ------------------------------------------------------------------------------

    def throughput(self, name: str, n: int) -> dict:
        if name == "redis":
            return self.raw_throughput(n)
        from django.db.models import Max
        from django_celery_results.models import TaskResult

        from lms.models import OutboxMessage

        subject = self.subjects[name]
        common.truncate(TaskResult)
        # Nothing should be left from the phase before; if anything is, say so and start clean.
        stray = self.redis.llen(subject.queue)
        self.redis.delete(subject.queue)
        ids = self.job_ids(name, n)
        plain_seconds = outbox_seconds = 0.0
        plain = outbox = 0
        block_size = min(ENQUEUE_BLOCK, max(1, n // 4))
        for block_index, first in enumerate(range(0, n, block_size)):
            block = ids[first : first + block_size]
            use_outbox = name == "welcome" and block_index % 2 == 1
            started = time.perf_counter()
            for job_id in block:
                if use_outbox:
                    self.publish_outbox(job_id)
                else:
                    self.publish_plain(name, job_id)
            elapsed = time.perf_counter() - started
            if use_outbox:
                outbox_seconds, outbox = outbox_seconds + elapsed, outbox + len(block)
            else:
                plain_seconds, plain = plain_seconds + elapsed, plain + len(block)
        queued = self.redis.llen(subject.queue)
        if queued != n or OutboxMessage.objects.exists():
            raise RuntimeError(f"{queued} messages queued and outbox rows left; expected {n} and none")

        cpu_before = common.process_tree_cpu_seconds(subject.worker.pid)
        resumed = time.time()
        subject.consumer.resume()
        if name in NO_RESULTS:
            last_done = self.wait_queue_drained(subject, timeout=60 + n)
        else:
            subject.consumer.wait_results(n, timeout=60 + n)
        cpu = common.process_tree_cpu_seconds(subject.worker.pid) - cpu_before
        subject.consumer.pause()
        if name not in NO_RESULTS:
            last_done = TaskResult.objects.aggregate(last=Max("date_done"))["last"].timestamp()
        drain_seconds = last_done - resumed
        row = {
            "n": n,
            "stray_messages_purged": stray,
            "enqueue_per_second": round(plain / plain_seconds, 1),
            "drain_seconds": round(drain_seconds, 3),
            "drain_per_second": round(n / drain_seconds, 1),
            "cpu_ms_per_task": round(1000 * cpu / n, 3),
        }
        if outbox:
            row["outbox_enqueue_per_second"] = round(outbox / outbox_seconds, 1)
            row["outbox_ms_per_job"] = round(1000 * outbox_seconds / outbox, 3)
            row["plain_ms_per_job"] = round(1000 * plain_seconds / plain, 3)
        return row

    def start_raw_consumer(self, n: int) -> tuple[common.Process, Path]:
        output = self.tmp_dir / f"raw-{uuid.uuid4().hex[:8]}.json"
        self.redis.delete(RAW_QUEUE, f"{RAW_QUEUE}:go", f"{RAW_QUEUE}:ready")
        command = [sys.executable, "-m", "bench._raw_consumer", "--url", self.broker_url, "--queue", RAW_QUEUE,
                   "--n", str(n), "--output", str(output)]  # fmt: skip
        consumer = self.processes.start(
            "raw-consumer", command, env=common.service_env(database_url="", broker_url=self.broker_url),
            log_path=self.tmp_dir / "raw-consumer.log",
        )  # fmt: skip
        common.wait_for(lambda: self.redis.get(f"{RAW_QUEUE}:ready"), timeout=30, what="the raw consumer")
        return consumer, output

    def finish_raw_consumer(self, consumer: common.Process, output: Path, n: int) -> dict:
        consumer.proc.wait(timeout=60 + n)
        if consumer.proc.returncode:
            raise RuntimeError(f"raw consumer failed:\n{consumer.log_tail()}")
        return json.loads(output.read_text())

    def raw_throughput(self, n: int) -> dict:
        consumer, output = self.start_raw_consumer(n)
        started = time.perf_counter()
        for _ in range(n):
            self.redis.lpush(RAW_QUEUE, self.raw_payload())
        enqueue_seconds = time.perf_counter() - started
        self.redis.lpush(f"{RAW_QUEUE}:go", repr(time.time()))
        result = self.finish_raw_consumer(consumer, output, n)
        drain_seconds = result["finished"] - result["started"]
        return {
            "n": n,
            "enqueue_per_second": round(n / enqueue_seconds, 1),
            "drain_seconds": round(drain_seconds, 3),
            "drain_per_second": round(n / drain_seconds, 1),
            "cpu_ms_per_task": round(1000 * result["cpu"] / n, 3),
        }

    # --- latency ---------------------------------------------------------------------------------

    @staticmethod
    def paced(n: int, rate: float):
        started = time.perf_counter()
        for index in range(n):
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            yield index

    def latency(self, name: str, n: int, rate: float) -> dict:
        if name == "redis":
            consumer, output = self.start_raw_consumer(n)
            self.redis.lpush(f"{RAW_QUEUE}:go", repr(time.time()))
            for _ in self.paced(n, rate):
                self.redis.lpush(RAW_QUEUE, self.raw_payload())
            latencies = self.finish_raw_consumer(consumer, output, n)["latencies"]
        else:
            from django_celery_results.models import TaskResult

            subject = self.subjects[name]
            common.truncate(TaskResult)
            ids = self.job_ids(name, n)
            subject.consumer.resume()
            published = {}
            for index in self.paced(n, rate):
                published_at = time.time()
                published[self.publish_plain(name, ids[index])] = published_at
            subject.consumer.wait_results(n, timeout=60 + n)
            subject.consumer.pause()
            done = dict(TaskResult.objects.values_list("task_id", "date_done"))
            latencies = [done[task_id].timestamp() - published_at for task_id, published_at in published.items()]
        return {
            "n": n,
            "offered_per_second": round(rate, 1),
            "p50_ms": round(1000 * common.percentile(latencies, 50), 2),
            "p95_ms": round(1000 * common.percentile(latencies, 95), 2),
        }


def summarise(rounds: list[dict], latency_rounds: list[dict]) -> dict:
    def med(subject, key, source=rounds):
        return common.median([r[subject][key] for r in source if key in r.get(subject, {})])

    summary = {}
    for subject in rounds[0]["order"]:
        summary[subject] = {key: med(subject, key) for key in SUMMARY_KEYS if med(subject, key) is not None}
        for key in ("p50_ms", "p95_ms"):
            if med(subject, key, latency_rounds) is not None:
                summary[subject][key] = med(subject, key, latency_rounds)

    def drain(subject):
        return summary.get(subject, {}).get("drain_per_second")

    def cpu(subject):
        return summary.get(subject, {}).get("cpu_ms_per_task")

    def p50(subject):
        return summary.get(subject, {}).get("p50_ms")

    ratios = {
        "welcome_over_stock_drain": common.ratio(drain("welcome"), drain("stock")),
        "notification_over_stock_drain": common.ratio(drain("notification"), drain("stock")),
        "noop_over_stock_drain": common.ratio(drain("noop"), drain("stock")),
        "welcome_over_noop_drain": common.ratio(drain("welcome"), drain("noop")),
        "stock_over_ceiling_drain": common.ratio(drain("stock"), drain("ceiling")),
        "noop_over_ceiling_drain": common.ratio(drain("noop"), drain("ceiling")),
        "ceiling_over_redis_drain": common.ratio(drain("ceiling"), drain("redis")),
        "welcome_over_stock_cpu_per_task": common.ratio(cpu("welcome"), cpu("stock")),
        "noop_over_stock_cpu_per_task": common.ratio(cpu("noop"), cpu("stock")),
        "welcome_over_stock_p50_latency": common.ratio(p50("welcome"), p50("stock")),
        "outbox_over_plain_enqueue": common.ratio(
            summary.get("welcome", {}).get("outbox_enqueue_per_second"),
            summary.get("welcome", {}).get("enqueue_per_second"),
        ),
    }
    target = ratios["welcome_over_stock_drain"]
    return {
        "subjects": summary,
        "ratios": ratios,
        "target": {
            "welcome_over_stock_drain_at_least": TARGET_WELCOME_OVER_STOCK,
            "met": target is not None and target >= TARGET_WELCOME_OVER_STOCK,
            "aim": AIM_WELCOME_OVER_STOCK,
            "aim_met": target is not None and target >= AIM_WELCOME_OVER_STOCK,
        },
    }


def print_table(report: dict) -> None:
    print(
        f"\nPer-job cost, n={report['n']} per subject and round, {report['rounds']} round(s), "
        f"payload {report['payload_bytes']} bytes; {report['machine']['cores']} cores"
    )
    header = f"{'subject':<12} {'round':>5} {'enqueue/s':>10} {'drain/s':>9} {'CPU ms/task':>12} {'outbox enq/s':>13}"
    print(header)
    print("-" * len(header))
    for index, round_ in enumerate(report["throughput"], start=1):
        for subject in round_["order"]:
            row = round_[subject]
            print(
                f"{subject:<12} {index:>5} {row['enqueue_per_second']:>10.1f} {row['drain_per_second']:>9.1f} "
                f"{row['cpu_ms_per_task']:>12.3f} {common.fmt(row.get('outbox_enqueue_per_second')):>13}"
            )
    print(f"\nlatency, publish -> done, at {report['latency_rate']:.1f} jobs/s offered")
    header = f"{'subject':<12} {'round':>5} {'n':>6} {'p50 ms':>8} {'p95 ms':>8}"
    print(header)
    print("-" * len(header))
    for index, round_ in enumerate(report["latency"], start=1):
        for subject in round_["order"]:
            row = round_[subject]
            print(f"{subject:<12} {index:>5} {row['n']:>6} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f}")
    print("\nmedians over rounds")
    for subject, row in report["summary"]["subjects"].items():
        print(f"  {subject:<12} " + ", ".join(f"{key} {value:.2f}" for key, value in row.items()))
    for name, value in report["summary"]["ratios"].items():
        print(f"  {name.replace('_over_', ' / '):<36} {common.fmt(value, '.3f')}")
    target = report["summary"]["target"]
    print(
        f"  target welcome / stock drain >= {target['welcome_over_stock_drain_at_least']}: "
        f"{'met' if target['met'] else 'NOT met'}; aim >= {target['aim']}: {'met' if target['aim_met'] else 'not met'}"
    )


def start_workers(processes: common.Processes, *, args, tmp_dir: Path, broker_url: str) -> dict[str, Subject]:
    """One 2-process prefork worker per app: the project's (welcome, notification, noop), the
    stock app with django-db results, the stock app without a result store."""
    from lms.celery import app as control_app

    tag = uuid.uuid4().hex[:6]
    specs = {
        "project": ("bench._pipeline_app", QUEUE, {"DJANGO_SETTINGS_MODULE": "lms.settings"}),
        "stock": ("bench._stock_app", STOCK_QUEUES["stock"], {"DJANGO_SETTINGS_MODULE": "bench._stock_settings"}),
        "ceiling": ("bench._stock_app", STOCK_QUEUES["ceiling"],
                    {"DJANGO_SETTINGS_MODULE": "bench._stock_settings", "STOCK_RESULT_BACKEND": "none"}),
    }  # fmt: skip
    workers = {}
    for key, (app_name, queue, extra_env) in specs.items():
        name = f"bench-{key}-{tag}@bench"
        command = common.celery_worker_command(app=app_name, name=name, queues=queue, concurrency=2)
        env = common.service_env(
            database_url=args.database_url,
            broker_url=broker_url,
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
            **extra_env,
        )
        workers[key] = (processes.start(name, command, env=env, log_path=tmp_dir / f"worker-{key}.log"), queue)
    subjects = {}
    for key, (worker, queue) in workers.items():
        common.wait_worker_ready(worker)
        consumer = common.ConsumerSwitch(control_app, worker, queue, poll_seconds=POLL_SECONDS)
        consumer.pause()
        print(f"worker {worker.name} ready (pid {worker.pid}), queue {queue}", flush=True)
        for name in ("welcome", "notification", "noop") if key == "project" else (key,):
            subjects[name] = Subject(name=name, worker=worker, consumer=consumer, queue=queue)
    return subjects


def run(args, *, tmp_dir: Path, broker_url: str) -> dict:
    from django.db import connection

    from bench._pipeline_app import app

    with common.Processes() as processes:
        bench = Bench(broker_url=broker_url, subjects={}, tmp_dir=tmp_dir, processes=processes)
        bench.prepare()  # before any worker consumes: it measures a message left in the queue
        print(f"message size {bench.payload_bytes} bytes", flush=True)
        bench.subjects = start_workers(processes, args=args, tmp_dir=tmp_dir, broker_url=broker_url)

        rounds = []
        for round_index in range(args.rounds):
            shift = round_index % len(args.subjects)
            order = args.subjects[shift:] + args.subjects[:shift]
            round_ = {"order": order}
            for subject in order:
                round_[subject] = bench.throughput(subject, args.n)
                print(f"round {round_index + 1} {subject}: {round_[subject]}", flush=True)
            rounds.append(round_)

        rate = args.latency_rate or 0.5 * min(r[args.subjects[0]]["drain_per_second"] for r in rounds)
        n_latency = max(20, int(rate * args.latency_seconds))
        latency_subjects = tuple(subject for subject in args.subjects if subject != "ceiling")
        latency_rounds = []
        for round_index in range(args.rounds):
            shift = round_index % len(latency_subjects)
            order = latency_subjects[shift:] + latency_subjects[:shift]
            round_ = {"order": order}
            for subject in order:
                round_[subject] = bench.latency(subject, n_latency, rate)
                print(f"latency round {round_index + 1} {subject}: {round_[subject]}", flush=True)
            latency_rounds.append(round_)
        connection.close()
        app.pool.force_close_all()

    return {
        "benchmark": "pipeline",
        "recorded_at": common.now_iso(),
        "n": args.n,
        "rounds": args.rounds,
        "payload_bytes": bench.payload_bytes,
        "worker": {"pool": "prefork", "concurrency": 2, "prefetch_multiplier": app.conf.worker_prefetch_multiplier},
        "machine": common.machine_info(broker_url=broker_url),
        "throughput": rounds,
        "latency_rate": round(rate, 1),
        "latency": latency_rounds,
        "summary": summarise(rounds, latency_rounds),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench pipeline", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1500, help="jobs per subject and round (default 1500)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, the subjects' order rotating (default 2)")
    parser.add_argument("--latency-seconds", type=float, default=5.0, help="length of each latency run")
    parser.add_argument(
        "--latency-rate", type=float, help="jobs/s offered (default: half the first subject's drain rate)"
    )
    parser.add_argument(
        "--subjects",
        type=lambda value: tuple(value.split(",")),
        default=SUBJECTS,
        help=f"comma-separated subset, e.g. welcome for a profile (default {','.join(SUBJECTS)})",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: proves it runs, measures nothing")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help="where the JSON results go")
    common.add_service_arguments(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.n, args.rounds, args.latency_seconds = SMOKE["n"], SMOKE["rounds"], SMOKE["latency_seconds"]
    if args.n < 1 or args.rounds < 1:
        parser.error("--n and --rounds must be positive")
    if not args.subjects or set(args.subjects) - set(SUBJECTS):
        parser.error(f"--subjects: choose among {', '.join(SUBJECTS)}")

    with common.services("pipeline", args) as (tmp_dir, broker):
        report = run(args, tmp_dir=tmp_dir, broker_url=broker)
    report["smoke"] = args.smoke
    print_table(report)
    common.write_results(args.output, report)
    return 0
