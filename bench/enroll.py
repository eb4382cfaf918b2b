"""Enrolling under load: POST /api/courses/{id}/enroll/ on gunicorn, with the confirmation job
queued on commit (outbox + publish to Redis) against the same app with that receiver disconnected.

    python -m bench enroll --duration 20     # the figures in docs/benchmarks.md
    python -m bench enroll --smoke           # tiny sizes, for CI: proves it runs, measures nothing

Two gunicorn servers run side by side, as the Procfile's `web` (gunicorn.conf.py: 2 sync
workers, access log on), each on a free port:
- enqueue: `lms.wsgi`, the app as shipped: enrolling inserts the outbox row in the request's
  transaction, publishes send_enrollment_confirmation to Redis after commit, deletes the row;
- baseline: `bench._enroll_wsgi`, the same application with notifications' enrollment_started
  receiver disconnected, so nothing is queued. No production code differs.

wrk (Debian's package) drives them in turns, A/B/A/B..., for a fixed duration each, with
`bench/_enroll.lua`: every request is a new (learner, course) pair, with access tokens made
in-process (simplejwt AccessToken.for_user, lifetime of hours) for learners and published
courses created in bulk, so every answer should be a 201. No worker runs: the jobs stay queued,
and after each run the benchmark checks that messages in the `emails` queue plus outbox rows equal
the 201s (and that the baseline queued none).
"""

import argparse
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

from bench import _common as common

RESULTS_FILE = common.RESULTS_DIR / "enroll.json"
LUA_SCRIPT = Path(__file__).resolve().parent / "_enroll.lua"
VARIANTS = {"enqueue": "lms.wsgi:application", "baseline": "bench._enroll_wsgi:application"}
COURSES = 40
LESSONS_PER_COURSE = 5
# Pairs prepared per second of each run: well above what 2 cores serve, so none is used twice.
PAIRS_PER_SECOND = 600
WARM_UP_SECONDS = 2
TOKEN_LIFETIME = timedelta(hours=6)
# After wrk stops, the server still finishes the requests in flight (and publishes their jobs):
# wait that long before counting, so each run's rows are counted in that run.
SETTLE_SECONDS = 1.0
TARGET_P50_OVERHEAD = 0.20
SMOKE = {"duration": 2, "runs": 1, "connections": 2, "threads": 1}


def create_data(pairs_needed: int) -> tuple[list[str], list[str]]:
    """Learners and published courses in bulk; returns (course ids, learners' access tokens)."""
    from django.db import transaction
    from rest_framework_simplejwt.tokens import AccessToken

    from courses.models import Course, Lesson
    from lms.users.models import User

    users = -(-pairs_needed // COURSES)
    with transaction.atomic():
        courses = Course.objects.bulk_create(
            Course(slug=f"bench-enroll-{i}", title=f"Bench course {i}", is_published=True) for i in range(COURSES)
        )
        Lesson.objects.bulk_create(
            Lesson(course=course, title=f"Lesson {p}", position=p)
            for course in courses
            for p in range(1, LESSONS_PER_COURSE + 1)
        )
        learners = User.objects.bulk_create(
            User(email=f"enroll-{i}@example.com", full_name=f"Learner {i}", is_verified=True) for i in range(users)
        )
    tokens = []
    for learner in learners:
        token = AccessToken.for_user(learner)
        token.set_exp(lifetime=TOKEN_LIFETIME)
        tokens.append(str(token))
    return [str(course.pk) for course in courses], tokens


def pairs(course_ids: list[str], tokens: list[str]):
    """Every (course, learner) pair once, learners first so consecutive requests hit all courses."""
    for token in tokens:
        for course_id in course_ids:
            yield course_id, token


def write_pairs(directory: Path, source, *, count: int, threads: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    files = [(directory / f"pairs-{n}.txt").open("w") for n in range(1, threads + 1)]
    try:
        for index in range(count):
            course_id, token = next(source)
            files[index % threads].write(f"{course_id} {token}\n")
    finally:
        for file in files:
            file.close()


def start_server(processes: common.Processes, variant: str, *, env: dict, tmp_dir: Path) -> tuple:
    port = common.free_port()
    command = [sys.executable, "-m", "gunicorn", VARIANTS[variant], "--bind", f"127.0.0.1:{port}"]
    server = processes.start(f"gunicorn-{variant}", command, env=env, log_path=tmp_dir / f"gunicorn-{variant}.log")

    def answers():
        server.check_alive()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/courses/", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    common.wait_for(answers, timeout=60, interval=0.2, what=f"gunicorn ({variant})")
    return server, port


def wrk(port: int, *, duration: float, connections: int, threads: int, pairs_dir: Path) -> dict:
    seconds = max(1, round(duration))  # wrk takes whole seconds ("20s", not "20.0s")
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
               "-s", str(LUA_SCRIPT), f"http://127.0.0.1:{port}", "--", str(pairs_dir)]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=False)
    line = next((line for line in completed.stdout.splitlines() if line.startswith("BENCH_JSON ")), None)
    if completed.returncode or line is None:
        raise RuntimeError(f"wrk failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    result = json.loads(line.removeprefix("BENCH_JSON "))
    result["statuses"] = {int(status): n for status, n in result["statuses"].items()}
    return result


def jobs_queued(client) -> int:
    """Confirmation jobs in existence: messages in the `emails` queue plus rows in the outbox."""
    from lms.models import OutboxMessage

    return client.llen("emails") + OutboxMessage.objects.count()


def run(args, *, tmp_dir: Path, broker_url: str) -> dict:
    import redis

    from enrollments.models import Enrollment

    client = redis.Redis.from_url(broker_url)
    order = [variant for _ in range(args.runs) for variant in ("enqueue", "baseline")]
    per_run = int(PAIRS_PER_SECOND * args.duration)
    warm_up = PAIRS_PER_SECOND * WARM_UP_SECONDS
    course_ids, tokens = create_data(per_run * len(order) + warm_up * len(VARIANTS))
    source = pairs(course_ids, tokens)
    print(f"{len(tokens)} learners x {len(course_ids)} courses; {len(order)} runs of {args.duration} s", flush=True)

    env = common.service_env(database_url=args.database_url, broker_url=broker_url, WEB_CONCURRENCY="2")
    runs = []
    with common.Processes() as processes:
        ports = {}
        for variant in VARIANTS:
            _, ports[variant] = start_server(processes, variant, env=env, tmp_dir=tmp_dir)
            # A short untimed run per server: imports, connections, first-request caches.
            write_pairs(tmp_dir / f"warm-{variant}", source, count=warm_up, threads=args.threads)
            wrk(ports[variant], duration=min(WARM_UP_SECONDS, args.duration), connections=args.connections,
                threads=args.threads, pairs_dir=tmp_dir / f"warm-{variant}")  # fmt: skip
            time.sleep(SETTLE_SECONDS)
        for index, variant in enumerate(order):
            pairs_dir = tmp_dir / f"run-{index}"
            write_pairs(pairs_dir, source, count=per_run, threads=args.threads)
            enrollments_before, jobs_before = Enrollment.objects.count(), jobs_queued(client)
            result = wrk(
                ports[variant],
                duration=args.duration,
                connections=args.connections,
                threads=args.threads,
                pairs_dir=pairs_dir,
            )
            time.sleep(SETTLE_SECONDS)
            created = result["statuses"].get(201, 0)
            result |= {
                "variant": variant,
                "requests_per_second": round(result["requests"] / (result["duration_us"] / 1e6), 1),
                "created_per_second": round(created / (result["duration_us"] / 1e6), 1),
                "enrollments_created": Enrollment.objects.count() - enrollments_before,
                "jobs_queued": jobs_queued(client) - jobs_before,
            }
            # wrk stops counting at the deadline, while the server still finishes the requests in
            # flight then (at most one per connection): those are created but not seen as 201s.
            result["in_flight_at_stop"] = result["enrollments_created"] - created
            expected_jobs = result["enrollments_created"] if variant == "enqueue" else 0
            result["jobs_match"] = (
                result["jobs_queued"] == expected_jobs and 0 <= result["in_flight_at_stop"] <= args.connections
            )
            runs.append(result)
            print(
                f"run {index + 1} {variant:<8}: {result['requests_per_second']:.1f} req/s, "
                f"p50 {result['p50_us'] / 1000:.2f} ms, p99 {result['p99_us'] / 1000:.2f} ms, "
                f"statuses {result['statuses']}, created {result['enrollments_created']}, jobs {result['jobs_queued']}",
                flush=True,
            )
    return {"runs": runs}


def summarise(runs: list[dict]) -> dict:
    def med(variant, key):
        return common.median([run[key] for run in runs if run["variant"] == variant])

    keys = ("requests_per_second", "created_per_second", "p50_us", "p90_us", "p99_us")
    summary = {variant: {key: med(variant, key) for key in keys} for variant in VARIANTS}
    pairs_ = [
        (a, b) for a, b in zip(runs[::2], runs[1::2], strict=False) if (a["variant"], b["variant"]) == tuple(VARIANTS)
    ]
    per_pair = [
        {
            "p50": common.ratio(a["p50_us"], b["p50_us"]),
            "p99": common.ratio(a["p99_us"], b["p99_us"]),
            "requests_per_second": common.ratio(a["requests_per_second"], b["requests_per_second"]),
        }
        for a, b in pairs_
    ]
    ratios = {key: common.median([pair[key] for pair in per_pair]) for key in ("p50", "p99", "requests_per_second")}
    total_201 = sum(run["statuses"].get(201, 0) for run in runs)
    total_other = sum(n for run in runs for status, n in run["statuses"].items() if status != 201)
    return {
        "variants": summary,
        "ratios_enqueue_over_baseline": ratios,
        "ratios_per_pair": per_pair,
        "responses_201": total_201,
        "responses_other": total_other,
        "jobs_match_201s": all(run["jobs_match"] for run in runs),
        "target": {
            "p50_overhead_under": TARGET_P50_OVERHEAD,
            "met": ratios["p50"] is not None and ratios["p50"] < 1 + TARGET_P50_OVERHEAD,
        },
    }


def print_table(report: dict) -> None:
    print(
        f"\nEnroll under load: {report['duration']} s per run, wrk -t{report['threads']} -c{report['connections']}, "
        f"gunicorn 2 sync workers; {report['machine']['cores']} cores"
    )
    header = f"{'run':>3} {'variant':<9} {'req/s':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'201s':>6}"
    header += f" {'other':>6} {'created':>7} jobs"
    print(header)
    print("-" * len(header))
    for index, run in enumerate(report["runs"], start=1):
        other = sum(n for status, n in run["statuses"].items() if status != 201)
        print(
            f"{index:>3} {run['variant']:<9} {run['requests_per_second']:>7.1f} {run['p50_us'] / 1000:>7.2f} "
            f"{run['p90_us'] / 1000:>7.2f} {run['p99_us'] / 1000:>7.2f} {run['statuses'].get(201, 0):>6} {other:>6} "
            f"{run['enrollments_created']:>7} "
            f"{run['jobs_queued']} ({'ok' if run['jobs_match'] else 'MISMATCH'})"
        )
    summary = report["summary"]
    ratios = summary["ratios_enqueue_over_baseline"]
    print(
        f"enqueue / baseline (median of A/B pairs): p50 {common.fmt(ratios['p50'], '.3f')}, "
        f"p99 {common.fmt(ratios['p99'], '.3f')}, req/s {common.fmt(ratios['requests_per_second'], '.3f')}"
    )
    print(
        f"jobs queued = enrollments created (= 201s + requests in flight at wrk's stop) in every run: "
        f"{'yes' if summary['jobs_match_201s'] else 'NO'}; "
        f"target p50 overhead < {TARGET_P50_OVERHEAD:.0%}: {'met' if summary['target']['met'] else 'NOT met'}"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench enroll", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=20, help="seconds per run (default 20)")
    parser.add_argument("--runs", type=int, default=2, help="runs of each variant, alternating (default 2)")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections (default 4)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: proves it runs, measures nothing")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help="where the JSON results go")
    common.add_service_arguments(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.duration, args.runs = SMOKE["duration"], SMOKE["runs"]
        args.connections, args.threads = SMOKE["connections"], SMOKE["threads"]
    if args.duration <= 0 or args.runs < 1 or args.connections < args.threads:
        parser.error("--duration and --runs must be positive, --connections at least --threads")
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk (scripts/test installs it)")

    with common.services("enroll", args) as (tmp_dir, broker):
        from courses.models import Course
        from lms.models import OutboxMessage
        from lms.users.models import User

        common.truncate(Course, User, OutboxMessage)
        report = run(args, tmp_dir=tmp_dir, broker_url=broker)
        report |= {
            "benchmark": "enroll",
            "recorded_at": common.now_iso(),
            "duration": args.duration,
            "connections": args.connections,
            "threads": args.threads,
            "machine": common.machine_info(broker_url=broker),
            "smoke": args.smoke,
        }
        common.truncate(Course, User, OutboxMessage)
    report["summary"] = summarise(report["runs"])
    print_table(report)
    common.write_results(args.output, report)
    return 0
