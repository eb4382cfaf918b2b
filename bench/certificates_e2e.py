"""Certificates end to end: N completed learners' certificates through Redis and a real worker,
by the fan-out path and one job per certificate, beside the render-only figure of the same run.

    python -m bench certificates_e2e --n 400     # the figures in docs/benchmarks.md
    python -m bench certificates_e2e --smoke     # tiny sizes, for CI: proves it runs, measures nothing

Each round creates N completed enrollments (in bulk) per mode; the jobs are published with the
worker's consumer cancelled, then `celery -A lms worker -Q certificates -c 2
--prefetch-multiplier 1` (prefork, as the Procfile's certificates worker but with 2 processes)
drains them. Each certificate: lock the enrollment, render the PDF, write it to MEDIA_ROOT (a
temporary folder), save the certificate and its "certificate ready" Notification, and dispatch
that e-mail after commit.

- fan_out: what happens when a recalculation completes them all at once: the receiver of
  `enrollments_completed` runs in the completing transaction and queues `generate_certificates`
  jobs of CERTIFICATES_PER_JOB enrollments (certificates.signals).
- single: one `generate_certificate` job per enrollment (what one learner's last lesson queues,
  and how every certificate was issued before the batches).

The worker consumes only `certificates`: the e-mails are left queued on `emails` (counted, not
sent). Rate = N / (last date_done - resume); CPU per certificate = the worker's parent + pool
processes' CPU time from /proc.

Render only: certificates.pdf.render_certificate_pdf in this process, N certificates, as
`python -m bench certificates` measures it (CPU seconds of one core, and wall): the physical
limit of 2 worker processes is twice its rate.

The three alternate, R rounds each, the order rotated every round, so drift hits all alike.
"""

import argparse
import time
import uuid
from pathlib import Path

from bench import _common as common

RESULTS_FILE = common.RESULTS_DIR / "certificates_e2e.json"
QUEUE = "certificates"
CONCURRENCY = 2
SMOKE = {"n": 6, "rounds": 1}
# The target, set when one process rendered ~190 certificates a second.
TARGET_PER_SECOND = 150
POLL_SECONDS = 0.05


def create_completed_enrollments(n: int, *, tag: str) -> list[str]:
    from django.db import transaction
    from django.utils import timezone

    from courses.models import Course, Lesson
    from enrollments.models import Enrollment
    from lms.users.models import User

    now = timezone.now()
    with transaction.atomic():
        course = Course.objects.create(
            slug=f"bench-certificates-{tag}", title="Data Engineering with Python", is_published=True
        )
        Lesson.objects.bulk_create(Lesson(course=course, title=f"Lesson {p}", position=p) for p in range(1, 6))
        learners = User.objects.bulk_create(
            User(email=f"cert-{tag}-{i}@example.com", full_name=f"Ada Lovelace {i}", is_verified=True) for i in range(n)
        )
        enrollments = Enrollment.objects.bulk_create(
            Enrollment(
                student=learner,
                course=course,
                status=Enrollment.Status.COMPLETED,
                progress_percentage=100,
                completed_lessons_count=5,
                total_lessons_count=5,
                completed_at=now,
            )
            for learner in learners
        )
    return [str(enrollment.pk) for enrollment in enrollments]


def render_only(n: int, *, offset: int) -> dict:
    from bench.certificates import sample_fields
    from certificates.pdf import render_certificate_pdf

    inputs = [sample_fields(offset + index) for index in range(n)]
    cpu, wall = time.process_time(), time.perf_counter()
    for fields in inputs:
        render_certificate_pdf(**fields)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "n": n,
        "per_core_per_second": round(n / cpu, 1),
        "wall_per_second": round(n / wall, 1),
        "cpu_ms_per_certificate": round(1000 * cpu / n, 3),
    }


class EndToEnd:
    def __init__(self, worker: common.Process, broker_url: str):
        import redis

        from lms.celery import app

        self.consumer = common.ConsumerSwitch(app, worker, QUEUE, poll_seconds=POLL_SECONDS)
        self.worker = worker
        self.redis = redis.Redis.from_url(broker_url)

    def run(self, n: int, *, mode: str, round_index: int, media_dir: Path) -> dict:
        from django.conf import settings
        from django.db import transaction
        from django.db.models import Max
        from django_celery_results.models import TaskResult

        from certificates.models import Certificate
        from certificates.signals import enrollments_completed_certificates
        from certificates.tasks import generate_certificate

        common.truncate(TaskResult)
        enrollment_ids = create_completed_enrollments(n, tag=f"{mode}-{round_index}-{uuid.uuid4().hex[:6]}")
        certificates_before = Certificate.objects.count()
        emails_before = self.redis.llen("emails")
        started = time.perf_counter()
        if mode == "fan_out":
            # What a recalculation completing them all does after its UPDATE: the receiver of
            # enrollments_completed, in the completing transaction.
            with transaction.atomic():
                enrollments_completed_certificates(sender=None, enrollment_ids=enrollment_ids)
            jobs = -(-n // settings.CERTIFICATES_PER_JOB)
        else:
            for enrollment_id in enrollment_ids:
                generate_certificate.apply_async(args=[enrollment_id])
            jobs = n
        enqueue_seconds = time.perf_counter() - started

        cpu_before = common.process_tree_cpu_seconds(self.worker.pid)
        resumed = time.time()
        self.consumer.resume()
        self.consumer.wait_results(jobs, timeout=120 + 2 * n, what=f"{mode} certificate jobs")
        cpu = common.process_tree_cpu_seconds(self.worker.pid) - cpu_before
        self.consumer.pause()
        drain_seconds = TaskResult.objects.aggregate(last=Max("date_done"))["last"].timestamp() - resumed
        issued = Certificate.objects.count() - certificates_before
        pdf_files = len(list((media_dir / "certificates").glob("*.pdf")))
        if issued != n:
            raise RuntimeError(f"{issued} certificates issued for {n} jobs")
        return {
            "n": n,
            "jobs": jobs,
            "enqueue_per_second": round(n / enqueue_seconds, 1),
            "drain_seconds": round(drain_seconds, 3),
            "per_second": round(n / drain_seconds, 1),
            "cpu_ms_per_certificate": round(1000 * cpu / n, 3),
            "certificates_issued": issued,
            "pdf_files_total": pdf_files,
            "emails_left_queued": self.redis.llen("emails") - emails_before,
        }


MODES = ("fan_out", "single")


def summarise(rounds: list[dict]) -> dict:
    def med(kind, key):
        return common.median([round_[kind][key] for round_ in rounds])

    render = {key: med("render", key) for key in ("per_core_per_second", "wall_per_second", "cpu_ms_per_certificate")}
    summary = {"render": render}
    for mode in MODES:
        e2e = {key: med(mode, key) for key in ("per_second", "cpu_ms_per_certificate", "enqueue_per_second")}
        summary[mode] = e2e
        summary[f"{mode}_ratios"] = {
            # What the job adds to the render: database, storage, notification, Celery, result store.
            "cpu_over_render_cpu": common.ratio(e2e["cpu_ms_per_certificate"], render["cpu_ms_per_certificate"]),
            # Of the ceiling of 2 processes each rendering at the render-only rate.
            "rate_over_2x_render_rate": common.ratio(e2e["per_second"], CONCURRENCY * render["per_core_per_second"]),
        }
    summary["fan_out_over_single"] = common.ratio(summary["fan_out"]["per_second"], summary["single"]["per_second"])
    summary["target_per_second"] = TARGET_PER_SECOND
    return summary


def print_table(report: dict) -> None:
    print(
        f"\nCertificates end to end, n={report['n']} per round, {report['rounds']} round(s); worker -c {CONCURRENCY} "
        f"--prefetch-multiplier 1; {report['machine']['cores']} cores; {report['per_job']} certificates a fan-out job"
    )
    header = f"{'round':>5} {'render /core/s':>14} {'render ms':>9}"
    header += "".join(f" {mode + ' cert/s':>15} {mode + ' CPU ms':>15}" for mode in MODES)
    print(header)
    print("-" * len(header))
    for index, round_ in enumerate(report["rounds_detail"], start=1):
        render = round_["render"]
        line = f"{index:>5} {render['per_core_per_second']:>14.1f} {render['cpu_ms_per_certificate']:>9.2f}"
        line += "".join(
            f" {round_[mode]['per_second']:>15.1f} {round_[mode]['cpu_ms_per_certificate']:>15.2f}" for mode in MODES
        )
        print(line)
    summary = report["summary"]
    print(
        f"medians: render {summary['render']['per_core_per_second']:.1f}/s per core "
        f"({summary['render']['cpu_ms_per_certificate']:.2f} ms)"
    )
    for mode in MODES:
        ratios, figures = summary[f"{mode}_ratios"], summary[mode]
        print(
            f"  {mode}: {figures['per_second']:.1f} certificates/s ({figures['cpu_ms_per_certificate']:.2f} "
            f"CPU ms each); CPU / render CPU {common.fmt(ratios['cpu_over_render_cpu'], '.2f')}; "
            f"rate / 2x render rate {common.fmt(ratios['rate_over_2x_render_rate'], '.3f')}"
        )
    print(f"  fan_out / single: {common.fmt(summary['fan_out_over_single'], '.2f')}x; "
          f"target >= {TARGET_PER_SECOND}/s on 2 processes")  # fmt: skip


def run(args, *, tmp_dir: Path, broker_url: str) -> dict:
    from django.conf import settings

    from certificates.models import Certificate
    from courses.models import Course
    from lms.models import OutboxMessage
    from lms.users.models import User
    from notifications.models import Notification

    media_dir = tmp_dir / "media"
    media_dir.mkdir()
    common.truncate(Certificate, Notification, OutboxMessage, Course, User)
    with common.Processes() as processes:
        name = f"bench-certificates-{uuid.uuid4().hex[:6]}@bench"
        command = common.celery_worker_command(
            app="lms", name=name, queues=QUEUE, concurrency=CONCURRENCY, extra=("--prefetch-multiplier", "1")
        )
        env = common.service_env(
            database_url=args.database_url,
            broker_url=broker_url,
            MEDIA_ROOT=str(media_dir),
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        )
        worker = processes.start(name, command, env=env, log_path=tmp_dir / "worker.log")
        e2e = EndToEnd(worker, broker_url)
        common.wait_worker_ready(worker)
        e2e.consumer.pause()
        render_only(3, offset=0)  # imports and font registration, untimed
        rounds = []
        kinds = ("render", *MODES)
        for round_index in range(args.rounds):
            round_ = {}
            for kind in kinds[round_index % len(kinds) :] + kinds[: round_index % len(kinds)]:  # rotated
                if kind == "render":
                    round_[kind] = render_only(args.n, offset=round_index * args.n)
                else:
                    round_[kind] = e2e.run(args.n, mode=kind, round_index=round_index, media_dir=media_dir)
                print(f"round {round_index + 1} {kind}: {round_[kind]}", flush=True)
            rounds.append(round_)
    common.truncate(Certificate, Notification, OutboxMessage, Course, User)
    return {
        "benchmark": "certificates_e2e",
        "recorded_at": common.now_iso(),
        "n": args.n,
        "rounds": args.rounds,
        "per_job": settings.CERTIFICATES_PER_JOB,
        "emails": "left queued on `emails`: the worker consumes only `certificates`",
        "machine": common.machine_info(broker_url=broker_url),
        "rounds_detail": rounds,
        "summary": summarise(rounds),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench certificates_e2e", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=400, help="certificates per round and mode (default 400)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of render-only + end to end (default 2)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: proves it runs, measures nothing")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help="where the JSON results go")
    common.add_service_arguments(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.n, args.rounds = SMOKE["n"], SMOKE["rounds"]
    if args.n < 1 or args.rounds < 1:
        parser.error("--n and --rounds must be positive")

    with common.services("certificates", args) as (tmp_dir, broker):
        report = run(args, tmp_dir=tmp_dir, broker_url=broker)
    report["smoke"] = args.smoke
    print_table(report)
    common.write_results(args.output, report)
    return 0
