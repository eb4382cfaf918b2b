"""Course announcements at scale: the recipient ledger, delivery to a local SMTP sink, account
e-mail latency while the backlog drains, and the shared rate limit.

    python -m bench announcements --n 100000    # the figures in docs/benchmarks.md
    python -m bench announcements --smoke       # tiny sizes, for CI: proves it runs, measures nothing

One run, side by side on the same sink (bench/_smtp_sink.py, a separate process that accepts and
logs every message):
1. Ledger: N learners enrolled in a course; the fan-out (`announcement_fan_out`, in this
   process, as the worker runs it) creates the N recipient rows in one INSERT ... SELECT and
   queues N / CHUNK_SIZE chunk jobs. Timed: the INSERT alone, and the whole fan-out transaction.
2. Delivery: one `bulk` worker with 2 processes (`-c 2 --prefetch-multiplier 1`, as the
   Procfile), no rate limit, sends the chunks through Django's SMTP backend. Rate = N / (last
   message at the sink - fan-out commit).
3. Account e-mail during the drain: from the fan-out on, every PROBE_INTERVAL_SECONDS, a
   password-reset job is queued (the `emails` worker, 2 processes); latency = its arrival at the
   sink - the moment it was queued. Max and p50 over PROBES.
4. Baseline: M = min(N, --baseline-n) one-job-per-e-mail `send_notification` jobs (the
   `emails` worker, 2 processes) published while its consumer is off, then drained; rate =
   M / (last arrival - consumer on).
5. Rate limit: the bulk worker restarted as two workers of one process each with
   BULK_EMAIL_RATE=--rate; an announcement to R = rate x --rate-seconds learners; measured rate =
   (messages - 1) / (last - first arrival), and over the middle 80 % of the messages.
"""

import argparse
import sys
import time
import uuid
from pathlib import Path

from bench import _common as common

RESULTS_FILE = common.RESULTS_DIR / "announcements.json"
PROBES = 20
PROBE_INTERVAL_SECONDS = 0.5
SMOKE = {"n": 300, "baseline_n": 100, "rate": 50, "rate_seconds": 2}


# --- Data ---------------------------------------------------------------------------------------


def seed_course(n: int, *, tag: str):
    """A course with `n` active learners, written set-based (generate_series) in seconds."""
    from django.db import connection

    from courses.models import Course
    from enrollments.models import Enrollment
    from lms.users.models import User

    course = Course.objects.create(slug=f"bench-announce-{tag}", title=f"Announcements {tag}", is_published=True)
    users, enrollments = User._meta.db_table, Enrollment._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {users} (id, email, full_name, password, is_verified, is_active, is_staff, is_superuser,
                                      date_joined)
                SELECT gen_random_uuid(), 'ann-' || %s || '-' || i || '@example.com', 'Learner ' || i, '',
                       TRUE, TRUE, FALSE, FALSE, now()
                FROM generate_series(1, %s) AS i""",  # noqa: S608 - the models' own tables
            [tag, n],
        )
        cursor.execute(
            f"""INSERT INTO {enrollments} (id, student_id, course_id, status, progress_percentage,
                    completed_lessons_count, total_lessons_count, enrolled_at, updated_at)
                SELECT gen_random_uuid(), u.id, %s, 'active', 0, 0, 0, now(), now()
                FROM {users} u WHERE u.email LIKE %s""",  # noqa: S608
            [course.pk, f"ann-{tag}-%"],
        )
    return course


def probe_users(n: int, *, tag: str) -> list:
    from lms.users.models import User

    return User.objects.bulk_create(
        User(email=f"probe-{tag}-{i}@example.com", full_name=f"Probe {i}", is_verified=True) for i in range(n)
    )


# --- The sink's log -------------------------------------------------------------------------------


class SinkLog:
    """Reads the sink's lines ("<time> <recipient> <A|N>") as they are appended."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.lines: list[tuple[float, str, str]] = []

    def read(self) -> list[tuple[float, str, str]]:
        if not self.path.exists():
            return self.lines
        with self.path.open("rb") as file:
            file.seek(self.offset)
            data = file.read()
        complete = data.rfind(b"\n") + 1
        self.offset += complete
        for raw in data[:complete].decode().splitlines():
            at, to, kind = raw.split(" ")
            self.lines.append((float(at), to, kind))
        return self.lines

    def since(self, index: int, kind: str) -> list[tuple[float, str, str]]:
        return [line for line in self.read()[index:] if line[2] == kind]


# --- Phases ---------------------------------------------------------------------------------------


def fan_out(course) -> tuple[object, dict]:
    from django.utils import timezone

    from notifications.announcements import services
    from notifications.models import Announcement

    announcement = Announcement.objects.create(
        course=course, subject="The exam moved to Friday", body="See the course page for the new room.\n" * 5,
        status=Announcement.Status.SENDING, started_at=timezone.now(),
    )  # fmt: skip
    timings = {}
    real_insert = services._create_recipients

    def timed_insert(a):
        started = time.perf_counter()
        real_insert(a)
        timings["insert_seconds"] = time.perf_counter() - started

    services._create_recipients = timed_insert
    try:
        started = time.perf_counter()
        result = services.announcement_fan_out(announcement_id=announcement.pk)
        timings["fan_out_seconds"] = time.perf_counter() - started
    finally:
        services._create_recipients = real_insert
    committed = time.time()
    timings.update(recipients=result["recipients"], chunks=result["chunks"], committed_at=committed)
    return announcement, timings


def wait_sent(announcement, n: int, sink: SinkLog, start_index: int, *, timeout: float, probe=None) -> None:
    from tqdm import tqdm

    from notifications.models import Announcement

    deadline = time.monotonic() + timeout
    with tqdm(total=n, desc="delivered", unit="msg", smoothing=0.1) as bar:
        while True:
            arrived = len(sink.since(start_index, "A"))
            bar.update(arrived - bar.n)
            if probe is not None:
                probe()
            status = Announcement.objects.filter(pk=announcement.pk).values_list("status", flat=True).first()
            if status == Announcement.Status.SENT and arrived >= n:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{arrived} of {n} messages after {timeout:.0f}s (status {status})")
            time.sleep(0.1)


class Probes:
    """Password resets queued while the backlog drains; each one's latency to the sink."""

    def __init__(self, users, sink: SinkLog):
        self.users = list(users)
        self.sink = sink
        self.queued: dict[str, float] = {}
        self.next_at = time.monotonic()  # the first one as the backlog starts

    def __call__(self) -> None:
        from lms.jobs.dispatch import dispatch_on_commit
        from notifications.tasks import send_password_reset_email as send_password_reset_email_task

        if self.users and time.monotonic() >= self.next_at:
            user = self.users.pop(0)
            self.queued[user.email] = time.time()
            dispatch_on_commit(send_password_reset_email_task, user.email, uuid.uuid4().hex)
            self.next_at += PROBE_INTERVAL_SECONDS

    def latencies(self, *, timeout: float = 30) -> list[float]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            arrived = {to: at for at, to, kind in self.sink.read() if kind == "N" and to in self.queued}
            if len(arrived) == len(self.queued):
                return [arrived[email] - queued for email, queued in self.queued.items()]
            time.sleep(0.1)
        raise TimeoutError(f"{len(arrived)} of {len(self.queued)} password resets reached the sink")


def baseline(m: int, emails_worker, sink: SinkLog, *, tag: str) -> dict:
    """One job per e-mail: `send_notification` for M rows, drained by the `emails` worker."""
    from lms.celery import app
    from notifications.models import Notification
    from notifications.tasks import send_notification

    users = probe_users(m, tag=f"{tag}-base")
    rows = Notification.objects.bulk_create(
        Notification(user=u, kind=Notification.Kind.GENERIC, subject="The exam moved to Friday",
                     body="See the course page for the new room.\n" * 5, dedupe_key=f"bench:{tag}:{u.pk}")
        for u in users
    )  # fmt: skip
    switch = common.ConsumerSwitch(app, emails_worker, "emails")
    switch.pause()
    for row in rows:
        send_notification.apply_async(args=[str(row.pk)])
    start_index = len(sink.read())
    resumed = time.time()
    switch.resume()
    addresses = {u.email for u in users}
    deadline = time.monotonic() + 60 + m / 20
    while len(arrived := [at for at, to, kind in sink.since(start_index, "N") if to in addresses]) < m:
        emails_worker.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(arrived)} of {m} send_notification e-mails reached the sink")
        time.sleep(0.1)
    seconds = max(arrived) - resumed
    return {"n": m, "seconds": round(seconds, 3), "per_second": round(m / seconds, 1)}


def start_bulk(processes, *, tmp_dir: Path, env: dict, rate: float, workers: int, concurrency: int) -> list:
    started = []
    for index in range(workers):
        name = f"bench-bulk-{index}-{uuid.uuid4().hex[:6]}@bench"
        command = common.celery_worker_command(app="lms", name=name, queues="bulk", concurrency=concurrency,
                                               extra=("--prefetch-multiplier", "1"))  # fmt: skip
        worker = processes.start(name, command, env={**env, "BULK_EMAIL_RATE": str(rate)},
                                 log_path=tmp_dir / f"{name}.log")  # fmt: skip
        started.append(worker)
    for worker in started:
        common.wait_worker_ready(worker)
    return started


def rate_limited(args, processes, *, tmp_dir: Path, env: dict, sink: SinkLog, tag: str) -> dict:
    r = int(args.rate * args.rate_seconds)
    course = seed_course(r, tag=f"{tag}-rate")
    workers = start_bulk(processes, tmp_dir=tmp_dir, env=env, rate=args.rate, workers=2, concurrency=1)
    start_index = len(sink.read())
    announcement, _ = fan_out(course)
    wait_sent(announcement, r, sink, start_index, timeout=60 + 3 * args.rate_seconds)
    times = sorted(at for at, _, _ in sink.since(start_index, "A"))
    middle = times[len(times) // 10 : len(times) - len(times) // 10]
    for worker in workers:
        worker.stop()
    overall = (len(times) - 1) / (times[-1] - times[0])
    return {
        "limit_per_second": args.rate,
        "n": r,
        "workers": "2 workers x 1 process",
        "measured_per_second": round(overall, 1),
        "middle_80pct_per_second": round((len(middle) - 1) / (middle[-1] - middle[0]), 1),
        "deviation_pct": round(100 * (overall - args.rate) / args.rate, 2),
    }


def run(args, *, tmp_dir: Path, broker_url: str) -> dict:
    from courses.models import Course
    from lms.models import OutboxMessage
    from lms.users.models import User
    from notifications.models import Announcement, Notification

    common.truncate(Announcement, Notification, OutboxMessage, Course, User)
    tag = uuid.uuid4().hex[:6]
    sink_port, sink_log = common.free_port(), tmp_dir / "sink.log"
    env = common.service_env(
        database_url=args.database_url,
        broker_url=broker_url,
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(sink_port),
        LOG_LEVEL="WARNING",
    )
    report: dict = {}
    with common.Processes() as processes:
        sink_process = processes.start(
            "sink", [sys.executable, "-m", "bench._smtp_sink", "--port", str(sink_port), "--log", str(sink_log)],
            env=env, log_path=tmp_dir / "sink.out",
        )  # fmt: skip
        common.wait_for(lambda: "ready" in sink_process.log_tail(), timeout=20, what="the SMTP sink")
        sink = SinkLog(sink_log)
        emails_name = f"bench-emails-{tag}@bench"
        emails_worker = processes.start(
            emails_name, common.celery_worker_command(app="lms", name=emails_name, queues="emails", concurrency=2),
            env=env, log_path=tmp_dir / "emails.log",
        )  # fmt: skip
        bulk = start_bulk(processes, tmp_dir=tmp_dir, env=env, rate=0, workers=1, concurrency=2)
        common.wait_worker_ready(emails_worker)

        print(f"seeding {args.n} learners ...", flush=True)
        started = time.perf_counter()
        course = seed_course(args.n, tag=tag)
        probes = Probes(probe_users(PROBES, tag=tag), sink)
        common.vacuum_analyze(User)
        print(f"seeded in {time.perf_counter() - started:.1f}s", flush=True)

        start_index = len(sink.read())
        cpu_before = {"bulk": common.process_tree_cpu_seconds(bulk[0].pid),
                      "sink": common.process_tree_cpu_seconds(sink_process.pid)}  # fmt: skip
        announcement, ledger = fan_out(course)
        print(f"fan-out: {ledger['recipients']} rows in {ledger['insert_seconds']:.2f}s "
              f"({ledger['fan_out_seconds']:.2f}s with {ledger['chunks']} chunk jobs)", flush=True)  # fmt: skip
        wait_sent(announcement, args.n, sink, start_index, timeout=120 + args.n / 50, probe=probes)
        last = max(at for at, _, _ in sink.since(start_index, "A"))
        seconds = last - ledger.pop("committed_at")
        cpu = {
            "bulk": common.process_tree_cpu_seconds(bulk[0].pid) - cpu_before["bulk"],
            "sink": common.process_tree_cpu_seconds(sink_process.pid) - cpu_before["sink"],
        }
        latencies = probes.latencies()
        report["ledger"] = {
            key: round(value, 3) if isinstance(value, float) else value for key, value in ledger.items()
        }
        report["ledger"]["rows_per_second"] = round(ledger["recipients"] / ledger["insert_seconds"])
        report["delivery"] = {
            "n": args.n,
            "workers": "1 worker x 2 processes, prefetch 1",
            "seconds": round(seconds, 3),
            "per_second": round(args.n / seconds, 1),
            # CPU of the bulk worker's processes (parent + pool) and of the sink, per message
            "worker_cpu_ms_per_message": round(1000 * cpu["bulk"] / args.n, 3),
            "sink_cpu_ms_per_message": round(1000 * cpu["sink"] / args.n, 3),
        }
        report["password_reset_during_drain"] = {
            "probes": len(latencies),
            "sent_while_draining": sum(1 for at in probes.queued.values() if at < last),
            "max_seconds": round(max(latencies), 3),
            "p50_seconds": round(common.percentile(latencies, 50), 3),
        }
        print(f"delivery: {report['delivery']}; resets: {report['password_reset_during_drain']}", flush=True)

        report["baseline_send_notification"] = baseline(min(args.n, args.baseline_n), emails_worker, sink, tag=tag)
        print(f"baseline: {report['baseline_send_notification']}", flush=True)
        report["ratio_bulk_over_baseline"] = common.ratio(
            report["delivery"]["per_second"], report["baseline_send_notification"]["per_second"]
        )
        for worker in bulk:
            worker.stop()
        report["rate_limit"] = rate_limited(args, processes, tmp_dir=tmp_dir, env=env, sink=sink, tag=tag)
        print(f"rate limit: {report['rate_limit']}", flush=True)
    common.truncate(Announcement, Notification, OutboxMessage, Course, User)
    return {
        "benchmark": "announcements",
        "recorded_at": common.now_iso(),
        "n": args.n,
        "chunk_size": ledger["recipients"] and -(-ledger["recipients"] // max(ledger["chunks"], 1)),
        "machine": common.machine_info(broker_url=broker_url),
        **report,
    }


def print_table(report: dict) -> None:
    ledger, delivery = report["ledger"], report["delivery"]
    resets, base, limit = (
        report["password_reset_during_drain"],
        report["baseline_send_notification"],
        report["rate_limit"],
    )
    print(f"\nAnnouncements, n={report['n']}; {report['machine']['cores']} cores")
    print(
        f"  recipient rows: {ledger['recipients']} in {ledger['insert_seconds']:.2f}s "
        f"({ledger['rows_per_second']}/s); fan-out with {ledger['chunks']} chunk jobs {ledger['fan_out_seconds']:.2f}s"
    )
    print(f"  delivery ({delivery['workers']}): {delivery['per_second']:.0f} msg/s ({delivery['seconds']:.1f}s); "
          f"CPU per message: worker {delivery['worker_cpu_ms_per_message']:.2f} ms, "
          f"sink {delivery['sink_cpu_ms_per_message']:.2f} ms")  # fmt: skip
    print(
        f"  one job per e-mail (send_notification, n={base['n']}): {base['per_second']:.0f} msg/s; "
        f"bulk / baseline = {common.fmt(report['ratio_bulk_over_baseline'], '.2f')}"
    )
    print(
        f"  password reset during the drain: max {resets['max_seconds']:.2f}s, p50 {resets['p50_seconds']:.2f}s "
        f"over {resets['probes']} ({resets['sent_while_draining']} queued while draining)"
    )
    print(f"  BULK_EMAIL_RATE={limit['limit_per_second']:g} ({limit['workers']}): {limit['measured_per_second']}/s "
          f"({limit['deviation_pct']:+.1f} %), middle 80 %: {limit['middle_80pct_per_second']}/s")  # fmt: skip


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench announcements", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="recipients of the unlimited run (default 100000)")
    parser.add_argument("--baseline-n", type=int, default=5_000, help="send_notification jobs (default 5000)")
    parser.add_argument("--rate", type=float, default=200, help="BULK_EMAIL_RATE of the limited run (default 200)")
    parser.add_argument("--rate-seconds", type=float, default=20, help="length of the limited run (default 20)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: proves it runs, measures nothing")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help="where the JSON results go")
    common.add_service_arguments(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.n, args.baseline_n, args.rate, args.rate_seconds = SMOKE.values()
    if args.n < 1 or args.baseline_n < 1 or args.rate <= 0 or args.rate_seconds <= 0:
        parser.error("sizes and the rate must be positive")

    with common.services("announcements", args) as (tmp_dir, broker):
        report = run(args, tmp_dir=tmp_dir, broker_url=broker)
    report["smoke"] = args.smoke
    print_table(report)
    common.write_results(args.output, report)
    return 0
