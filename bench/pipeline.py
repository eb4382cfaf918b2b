"""The e-mail pipeline: real send_notification jobs through Redis and a real worker, against a
no-op Celery task and a raw redis-py loop, all measured in the same run.

    python -m bench pipeline --n 5000     # the figures in docs/benchmarks.md
    python -m bench pipeline --smoke      # tiny sizes, for CI: proves it runs, measures nothing

Subjects, each drained by the same kind of consumer:
- ours: notifications.tasks.send_notification for pending Notification rows created in bulk;
  the worker e-mails through Django's locmem backend (no SMTP server in the way).
- noop: `bench.noop` (bench/_pipeline_app.py), the same app, settings and worker, a task body
  that does nothing: what Celery, the broker and the result store cost on their own.
- redis: LPUSH of a payload of the same size from this process, BRPOP + json.loads in another
  process (bench/_raw_consumer.py): the floor of any Redis queue.

One worker (`celery -A bench._pipeline_app worker -Q emails -c 2`, prefork, the project's
settings: acks_late, prefetch 4, django-db results with track_started) serves ours and noop.

Throughput, per round and subject (the order rotates every round): with the worker's consumer
cancelled, N jobs are enqueued (enqueue rate), then the consumer is added back and the clock runs
until the last result is stored (drain rate = N / (last date_done - resume)). CPU per task is the
worker's parent + pool processes' CPU time from /proc, before and after the drain. Our enqueue
alternates blocks of plain apply_async with blocks of lms.jobs.dispatch.dispatch_on_commit, each in
its own transaction (outbox row inserted, committed, published, deleted): the outbox's cost.

Latency: afterwards each subject gets jobs at the same steady rate, half of our measured drain
rate, while its consumer runs; queue latency is publish -> start (TaskResult.date_started, or
the BRPOP for the raw loop), p50 and p95.
"""

import argparse
import json
import sys
import time
import uuid
from pathlib import Path

from bench import _common as common

RESULTS_FILE = common.RESULTS_DIR / "pipeline.json"
QUEUE = "emails"
RAW_QUEUE = "bench:raw"
SUBJECTS = ("ours", "noop", "redis")
# Jobs per block when alternating apply_async with dispatch_on_commit: short enough that a
# neighbour's burst lands on both, long enough that the switch costs nothing.
ENQUEUE_BLOCK = 50
USERS = 50
SMOKE = {"n": 40, "rounds": 1, "latency_seconds": 1.0}
POLL_SECONDS = 0.05
SUMMARY_KEYS = ("enqueue_per_second", "drain_per_second", "cpu_ms_per_task", "outbox_enqueue_per_second",
                "outbox_ms_per_job", "plain_ms_per_job")  # fmt: skip


class Bench:
    def __init__(self, *, broker_url: str, worker: common.Process, tmp_dir: Path, processes: common.Processes):
        import redis

        from bench._pipeline_app import app

        self.app = app
        self.consumer = common.ConsumerSwitch(app, worker, QUEUE, poll_seconds=POLL_SECONDS)
        self.broker_url = broker_url
        self.redis = redis.Redis.from_url(broker_url)
        self.worker = worker
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

    def notifications(self, n: int) -> list[str]:
        from notifications.models import Notification

        stamp = uuid.uuid4().hex[:8]
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

    # --- publishing ----------------------------------------------------------------------------

    def publish_plain(self, subject: str, notification_id: str) -> str:
        """Publish one job; returns its task id."""
        from bench._pipeline_app import NOOP_TASK
        from notifications.tasks import send_notification

        if subject == "ours":
            return send_notification.apply_async(args=[notification_id]).id
        return self.app.send_task(NOOP_TASK, args=[notification_id], queue=QUEUE).id

    @staticmethod
    def publish_outbox(notification_id: str) -> None:
        from django.db import transaction

        from lms.jobs.dispatch import dispatch_on_commit
        from notifications.tasks import send_notification

        with transaction.atomic():
            dispatch_on_commit(send_notification, notification_id)

    def raw_payload(self) -> bytes:
        message = {"ts": time.time(), "id": str(uuid.uuid4()), "pad": ""}
        pad = self.payload_bytes - len(json.dumps(message))
        message["pad"] = "x" * max(pad, 0)
        return json.dumps(message).encode()

    # --- throughput ------------------------------------------------------------------------------

    def throughput(self, subject: str, n: int) -> dict:
        if subject == "redis":
            return self.raw_throughput(n)
        from django.db.models import Max
        from django_celery_results.models import TaskResult

        from lms.models import OutboxMessage

        common.truncate(TaskResult)
        # Nothing should be left from the phase before; if anything is, say so and start clean.
        stray = self.redis.llen(QUEUE)
        self.redis.delete(QUEUE)
        ids = self.notifications(n) if subject == "ours" else [str(uuid.uuid4()) for _ in range(n)]
        plain_seconds = outbox_seconds = 0.0
        plain = outbox = 0
        block_size = min(ENQUEUE_BLOCK, max(1, n // 4))
        for block_index, first in enumerate(range(0, n, block_size)):
            block = ids[first : first + block_size]
            use_outbox = subject == "ours" and block_index % 2 == 1
            started = time.perf_counter()
            for notification_id in block:
                if use_outbox:
                    self.publish_outbox(notification_id)
                else:
                    self.publish_plain(subject, notification_id)
            elapsed = time.perf_counter() - started
            if use_outbox:
                outbox_seconds, outbox = outbox_seconds + elapsed, outbox + len(block)
            else:
                plain_seconds, plain = plain_seconds + elapsed, plain + len(block)
        queued = self.redis.llen(QUEUE)
        if queued != n or OutboxMessage.objects.exists():
            raise RuntimeError(f"{queued} messages queued and outbox rows left; expected {n} and none")

        cpu_before = common.process_tree_cpu_seconds(self.worker.pid)
        resumed = time.time()
        self.consumer.resume()
        self.consumer.wait_results(n, timeout=60 + n)
        cpu = common.process_tree_cpu_seconds(self.worker.pid) - cpu_before
        self.consumer.pause()
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

    def latency(self, subject: str, n: int, rate: float) -> dict:
        if subject == "redis":
            consumer, output = self.start_raw_consumer(n)
            self.redis.lpush(f"{RAW_QUEUE}:go", repr(time.time()))
            for _ in self.paced(n, rate):
                self.redis.lpush(RAW_QUEUE, self.raw_payload())
            latencies = self.finish_raw_consumer(consumer, output, n)["latencies"]
        else:
            from django_celery_results.models import TaskResult

            common.truncate(TaskResult)
            ids = self.notifications(n) if subject == "ours" else [str(uuid.uuid4()) for _ in range(n)]
            self.consumer.resume()
            published = {}
            for index in self.paced(n, rate):
                published_at = time.time()
                published[self.publish_plain(subject, ids[index])] = published_at
            self.consumer.wait_results(n, timeout=60 + n)
            self.consumer.pause()
            started = dict(TaskResult.objects.values_list("task_id", "date_started"))
            latencies = [started[task_id].timestamp() - published_at for task_id, published_at in published.items()]
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
    for subject in SUBJECTS:
        summary[subject] = {key: med(subject, key) for key in SUMMARY_KEYS if med(subject, key) is not None}
        for key in ("p50_ms", "p95_ms"):
            summary[subject][key] = med(subject, key, latency_rounds)
    ours, noop, raw = summary["ours"], summary["noop"], summary["redis"]
    ratios = {
        "ours_over_noop_drain": common.ratio(ours["drain_per_second"], noop["drain_per_second"]),
        "ours_over_redis_drain": common.ratio(ours["drain_per_second"], raw["drain_per_second"]),
        "noop_over_redis_drain": common.ratio(noop["drain_per_second"], raw["drain_per_second"]),
        "ours_over_noop_cpu_per_task": common.ratio(ours["cpu_ms_per_task"], noop["cpu_ms_per_task"]),
        "ours_over_noop_p50_latency": common.ratio(ours["p50_ms"], noop["p50_ms"]),
        "outbox_over_plain_enqueue": common.ratio(ours["outbox_enqueue_per_second"], ours["enqueue_per_second"]),
    }
    target = ratios["ours_over_noop_drain"]
    return {
        "subjects": summary,
        "ratios": ratios,
        "target": {"ours_over_noop_drain_at_least": 0.5, "met": target is not None and target >= 0.5},
    }


def print_table(report: dict) -> None:
    print(
        f"\nPipeline, n={report['n']} per subject and round, {report['rounds']} round(s), "
        f"payload {report['payload_bytes']} bytes; {report['machine']['cores']} cores"
    )
    header = f"{'subject':<8} {'round':>5} {'enqueue/s':>10} {'drain/s':>9} {'CPU ms/task':>12} {'outbox enq/s':>13}"
    print(header)
    print("-" * len(header))
    for index, round_ in enumerate(report["throughput"], start=1):
        for subject in round_["order"]:
            row = round_[subject]
            print(
                f"{subject:<8} {index:>5} {row['enqueue_per_second']:>10.1f} {row['drain_per_second']:>9.1f} "
                f"{row['cpu_ms_per_task']:>12.3f} {common.fmt(row.get('outbox_enqueue_per_second')):>13}"
            )
    print(f"\nqueue latency, publish -> start, at {report['latency_rate']:.1f} jobs/s offered")
    header = f"{'subject':<8} {'round':>5} {'n':>6} {'p50 ms':>8} {'p95 ms':>8}"
    print(header)
    print("-" * len(header))
    for index, round_ in enumerate(report["latency"], start=1):
        for subject in round_["order"]:
            row = round_[subject]
            print(f"{subject:<8} {index:>5} {row['n']:>6} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f}")
    print("\nmedians over rounds")
    for subject, row in report["summary"]["subjects"].items():
        print(f"  {subject:<6} " + ", ".join(f"{key} {value:.2f}" for key, value in row.items()))
    for name, value in report["summary"]["ratios"].items():
        print(f"  {name.replace('_over_', ' / '):<34} {common.fmt(value, '.3f')}")
    target = report["summary"]["target"]
    print(f"  target ours / noop drain >= 0.5: {'met' if target['met'] else 'NOT met'}")


def run(args, *, tmp_dir: Path, broker_url: str) -> dict:
    from django.db import connection

    from bench._pipeline_app import app

    with common.Processes() as processes:
        name = f"bench-pipeline-{uuid.uuid4().hex[:6]}@bench"
        command = common.celery_worker_command(app="bench._pipeline_app", name=name, queues=QUEUE, concurrency=2)
        env = common.service_env(
            database_url=args.database_url,
            broker_url=broker_url,
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        )
        worker = processes.start(name, command, env=env, log_path=tmp_dir / "worker.log")
        bench = Bench(broker_url=broker_url, worker=worker, tmp_dir=tmp_dir, processes=processes)
        bench.prepare()
        common.wait_worker_ready(worker)
        bench.consumer.pause()
        print(f"worker {name} ready (pid {worker.pid}); message size {bench.payload_bytes} bytes", flush=True)

        rounds = []
        for round_index in range(args.rounds):
            shift = round_index % len(SUBJECTS)
            order = SUBJECTS[shift:] + SUBJECTS[:shift]
            round_ = {"order": order}
            for subject in order:
                round_[subject] = bench.throughput(subject, args.n)
                print(f"round {round_index + 1} {subject}: {round_[subject]}", flush=True)
            rounds.append(round_)

        rate = args.latency_rate or 0.5 * min(r["ours"]["drain_per_second"] for r in rounds)
        n_latency = max(20, int(rate * args.latency_seconds))
        latency_rounds = []
        for round_index in range(args.rounds):
            shift = round_index % len(SUBJECTS)
            order = SUBJECTS[shift:] + SUBJECTS[:shift]
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
    parser.add_argument("--n", type=int, default=5000, help="jobs per subject and round (default 5000)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, the subjects' order rotating (default 2)")
    parser.add_argument("--latency-seconds", type=float, default=10.0, help="length of each latency run")
    parser.add_argument("--latency-rate", type=float, help="jobs/s offered (default: half our drain rate)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: proves it runs, measures nothing")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help="where the JSON results go")
    common.add_service_arguments(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.n, args.rounds, args.latency_seconds = SMOKE["n"], SMOKE["rounds"], SMOKE["latency_seconds"]
    if args.n < 1 or args.rounds < 1:
        parser.error("--n and --rounds must be positive")

    with common.services("pipeline", args) as (tmp_dir, broker):
        report = run(args, tmp_dir=tmp_dir, broker_url=broker)
    report["smoke"] = args.smoke
    print_table(report)
    common.write_results(args.output, report)
    return 0
