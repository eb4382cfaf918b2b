"""Progress recalculation at scale: the set-based SQL against the naive per-enrollment ORM loop.

    python -m bench progress --sizes 10000,100000              # the figures in docs/benchmarks.md
    python -m bench progress --sizes 10000,100000,1000000      # 1M too (~4 GB, minutes of loading)
    python -m bench progress --smoke                           # tiny sizes, for CI
    python -m bench progress --sizes 100000 --explain          # EXPLAIN (ANALYZE, BUFFERS) too
    python -m bench progress --sizes 10000,100000 --only-completions   # the bulk-completion case alone

Data, generated in SQL (INSERT ... SELECT generate_series, never an ORM loop): courses of 20
lessons; enrollment n of a course has completed lessons 1..(10 + n % 11), so 75 % on average
(about 15 LessonProgress rows per enrollment); those with all 20 are `completed`, every 50th is
`dropped`; stored counts start stale (zero).

For each size S:
- one course with S enrollments, recalculated by enrollments.services.course_progress_recalculate:
  `stale` (every row rewritten), `unchanged` (run again: nothing to write) and `lesson added`
  (a 21st lesson: every row changes, completed enrollments reopen). Statements are the SQL sent
  through cursors (connection.execute_wrapper; BEGIN and COMMIT are not among them); wall time
  with perf_counter.
- the --all path: S / 1,000 courses of 1,000 enrollments, `manage.py recalculate_progress --all`.
- the baseline, on the smallest size only: the per-enrollment ORM loop of the original design
  (for each enrollment: count its LessonProgress, compute the percentage, save), in one
  transaction, and the same loop in autocommit (each save its own transaction, as a loop
  without `atomic` runs); alternated with the set-based run, stored figures reset to stale
  before each.

Completions (the bulk-dispatch case): one course of S enrollments whose stored figures are stale
*and* say active while 5 % of them (enrollment n with n % 20 == 0) have done all 20 lessons, so
one recalculation completes S / 20 enrollments at once and queues their certificate jobs. Queued
mode on a Redis of the run's own (or --broker-url). Alternating, BASELINE_ROUNDS rounds, figures
reset (stale, active, outbox and queue emptied) before each:
- `command`: `manage.py recalculate_progress --course <id>` (call_command), jobs and all;
- `update alone`: the same recalculation with the certificate receiver disconnected: the lock and
  the UPDATE, no job: the floor any implementation pays;
- on the smallest size, `naive loop`: the per-enrollment ORM loop above plus stock Celery's
  `on_commit(partial(generate_certificate.delay, id))` per completion (what a plain Celery project writes).
Afterwards a real worker (`celery -A lms worker -Q certificates -c 2`) drains the jobs of the last
`command` run when there are at most --drain-max of them: the jobs are `generate_certificates`
of CERTIFICATES_PER_JOB enrollments each; every job must succeed, and certificates, distinct
enrollments, PDF files and the enrollments the results say they issued must each equal the
completions.
"""

import argparse
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from bench import _common as common

RESULTS_FILE = common.RESULTS_DIR / "progress.json"
LESSONS = 20
ALL_COURSE_SIZE = 1_000
SMOKE_SIZES = [300, 1_000]
BASELINE_ROUNDS = 3
TARGET_SECONDS_100K = 5.0
TARGET_RATIO = 100
# The completions case: enrollment n has done every lesson when n % COMPLETION_EVERY == 0 (5 %).
COMPLETION_EVERY = 20
# Most certificates a worker drains after the completions case (~200 a second on 2 processes).
DRAIN_MAX = 5_000


# --- data --------------------------------------------------------------------------------------


def _cursor():
    from django.db import connection

    return connection.cursor()


def ensure_users(count: int) -> None:
    """Users bench-user-1..count (ids derived from n, so enrollments need no join to find them)."""
    from lms.users.models import User

    have = User.objects.filter(email__startswith="bench-user-").count()
    if have >= count:
        return
    with _cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO users_user (id, password, is_superuser, email, full_name, is_verified, is_active, is_staff,
                                    date_joined)
            SELECT md5('bench-user-' || n)::uuid, '!', false, 'bench-user-' || n || '@example.com', 'Learner ' || n,
                   true, true, false, now()
            FROM generate_series(%s, %s) n
            """,
            [have + 1, count],
        )


# Lessons enrollment n has done, and its stored status, per data shape.
_SHAPES = {
    # 10 to 20 lessons, 15 on average (75 %); those at 20 stored as completed already.
    "stored": {
        "done": "10 + n %% 11",
        "status": "CASE WHEN n %% 50 = 0 THEN 'dropped' WHEN 10 + n %% 11 >= %(lessons)s THEN 'completed' "
        "ELSE 'active' END",
        "completed_at": "CASE WHEN n %% 50 <> 0 AND 10 + n %% 11 >= %(lessons)s THEN now() END",
        "dropped_at": "CASE WHEN n %% 50 = 0 THEN now() END",
    },
    # Every 20th enrollment has done all lessons but is stored as active: newly complete (5 %);
    # the others 10 to 19 lessons; every 50th (never one of the complete ones) dropped.
    "completions": {
        "done": f"CASE WHEN n %% {COMPLETION_EVERY} = 0 THEN %(lessons)s ELSE 10 + n %% 10 END",
        "status": "CASE WHEN n %% 50 = 25 THEN 'dropped' ELSE 'active' END",
        "completed_at": "NULL::timestamptz",
        "dropped_at": "CASE WHEN n %% 50 = 25 THEN now() END",
    },
}


def create_courses(
    prefix: str, *, courses: int, enrollments: int, lessons: int = LESSONS, shape: str = "stored"
) -> list[str]:
    """`courses` published courses of `lessons` lessons with `enrollments` enrollments each."""
    from django.db import transaction

    params = {"prefix": prefix, "courses": courses, "enrollments": enrollments, "lessons": lessons}
    sql = _SHAPES[shape]
    with transaction.atomic(), _cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute(
            """
            INSERT INTO courses_course (id, slug, title, description, is_published, created_at, updated_at)
            SELECT md5(%(prefix)s || c)::uuid, %(prefix)s || c, 'Course ' || %(prefix)s || c, '', true, now(), now()
            FROM generate_series(1, %(courses)s) c
            """,
            params,
        )
        cursor.execute(
            """
            INSERT INTO courses_lesson (id, course_id, title, position, content, created_at)
            SELECT md5(%(prefix)s || c || ':lesson:' || p)::uuid, md5(%(prefix)s || c)::uuid, 'Lesson ' || p, p, '',
                   now()
            FROM generate_series(1, %(courses)s) c, generate_series(1, %(lessons)s) p
            """,
            params,
        )
        # Enrollment n completed lessons 1 .. done(n), per the shape.
        cursor.execute(
            f"""
            INSERT INTO enrollments_enrollment (id, student_id, course_id, status, progress_percentage,
                completed_lessons_count, total_lessons_count, enrolled_at, completed_at, dropped_at, updated_at)
            SELECT md5(%(prefix)s || c || ':' || n)::uuid, md5('bench-user-' || n)::uuid, md5(%(prefix)s || c)::uuid,
                   {sql["status"]}, 0, 0, 0, now(), {sql["completed_at"]}, {sql["dropped_at"]}, now()
            FROM generate_series(1, %(courses)s) c, generate_series(1, %(enrollments)s) n
            """,  # noqa: S608 - the shape's SQL is constants of this module
            params,
        )
        cursor.execute(
            f"""
            INSERT INTO enrollments_lessonprogress (enrollment_id, lesson_id, completed_at)
            SELECT md5(%(prefix)s || c || ':' || n)::uuid, md5(%(prefix)s || c || ':lesson:' || p)::uuid, now()
            FROM generate_series(1, %(courses)s) c, generate_series(1, %(enrollments)s) n,
                 generate_series(1, %(lessons)s) p
            WHERE p <= {sql["done"]}
            """,  # noqa: S608 - the shape's SQL is constants of this module
            params,
        )
        cursor.execute("SELECT md5(%(prefix)s || c)::uuid FROM generate_series(1, %(courses)s) c", params)
        return [str(row[0]) for row in cursor.fetchall()]


def reset_data() -> None:
    from django_celery_results.models import TaskResult

    from certificates.models import Certificate
    from courses.models import Course
    from enrollments.models import Enrollment, LessonProgress
    from lms.models import OutboxMessage
    from notifications.models import Notification

    common.truncate(Certificate, Notification, LessonProgress, Enrollment, Course, OutboxMessage, TaskResult)


def make_stale(course_ids: list[str]) -> None:
    """Put the stored figures back to what the generator wrote (zero counts, original status)."""
    from django.db import transaction

    with transaction.atomic(), _cursor() as cursor:
        cursor.execute(
            """
            UPDATE enrollments_enrollment SET completed_lessons_count = 0, total_lessons_count = 0,
                   progress_percentage = 0
            WHERE course_id = ANY(%s::uuid[])
            """,
            [course_ids],
        )


def table_sizes() -> dict:
    with _cursor() as cursor:
        cursor.execute(
            """
            SELECT relname, n_live_tup, pg_total_relation_size(relid)
            FROM pg_stat_user_tables
            WHERE relname IN ('enrollments_enrollment', 'enrollments_lessonprogress')
            """
        )
        return {name: {"rows": rows, "bytes": size} for name, rows, size in cursor.fetchall()}


# --- what is measured --------------------------------------------------------------------------


def measure(function) -> dict:
    """Wall time and SQL statements sent (BEGIN and COMMIT included) of one call."""
    from django.db import connection

    statements = []

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        started = time.perf_counter()
        outcome = function()
        seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 4), "statements": len(statements), "outcome": outcome}


def set_based(course_id: str):
    from enrollments.services import course_progress_recalculate

    def run():
        result = course_progress_recalculate(course_id=course_id)
        return {"changed": result.changed, "completed": len(result.newly_completed), "reopened": result.reopened}

    return run


def naive_loop(course_id: str, *, atomic: bool = True, certificates: bool = False):
    """The original design: one enrollment at a time, through the ORM; with `certificates`, each
    enrollment that becomes complete queues its certificate the stock Celery way (on_commit ->
    delay: one publish per job, no outbox)."""
    import contextlib
    from functools import partial

    from django.db import transaction
    from django.utils import timezone

    from certificates.tasks import generate_certificate
    from courses.models import Lesson
    from enrollments.models import Enrollment, LessonProgress

    def run():
        changed = completed = 0
        with transaction.atomic() if atomic else contextlib.nullcontext():
            total = Lesson.objects.filter(course_id=course_id).count()
            for enrollment in Enrollment.objects.filter(course_id=course_id):
                done = LessonProgress.objects.filter(enrollment=enrollment).count()
                percentage = (Decimal(100 * done) / total).quantize(Decimal("0.01"), ROUND_HALF_UP) if total else 0
                enrollment.completed_lessons_count = done
                enrollment.total_lessons_count = total
                enrollment.progress_percentage = percentage
                if enrollment.status != Enrollment.Status.DROPPED:
                    complete = total > 0 and done >= total
                    if certificates and complete and enrollment.status != Enrollment.Status.COMPLETED:
                        transaction.on_commit(partial(generate_certificate.delay, str(enrollment.pk)))
                        completed += 1
                    enrollment.status = Enrollment.Status.COMPLETED if complete else Enrollment.Status.ACTIVE
                    enrollment.completed_at = (enrollment.completed_at or timezone.now()) if complete else None
                enrollment.save()
                changed += 1
        return {"changed": changed, "completed": completed} if certificates else {"changed": changed}

    return run


def all_courses():
    from django.core.management import call_command

    def run():
        call_command("recalculate_progress", "--all", stdout=_Null(), stderr=_Null())
        return {}

    return run


class _Null:
    def write(self, *_):
        pass

    def flush(self):
        pass


def add_lesson(course_id: str) -> None:
    """A 21st lesson, in SQL: the admin's save would also queue the recalculation we run here."""
    with _cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO courses_lesson (id, course_id, title, position, content, created_at)
            VALUES (gen_random_uuid(), %s, 'Lesson added', %s, '', now())
            """,
            [course_id, LESSONS + 1],
        )


def explain(course_id: str) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the course recalculation, rolled back."""
    from django.db import transaction
    from django.utils import timezone

    from enrollments import progress

    update = progress._UPDATE.format(enrollment_filter="", returning=progress._RETURNING_OLD_AND_NEW)
    params = {"course": course_id, "now": timezone.now()}
    with transaction.atomic(), _cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {update}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return plan


# --- the run -----------------------------------------------------------------------------------


def run_size(size: int, *, baseline: bool, do_all: bool, do_explain: bool, log) -> dict:
    row = {"size": size}
    reset_data()
    started = time.perf_counter()
    (course_id,) = create_courses(f"big{size}-", courses=1, enrollments=size)
    common.vacuum_analyze(*_tables())
    row["generate_seconds"] = round(time.perf_counter() - started, 2)
    row["tables"] = table_sizes()
    log(f"size {size}: generated in {row['generate_seconds']} s: {row['tables']}")

    if do_explain:
        row["explain"] = explain(course_id)
        log(row["explain"])

    if baseline:
        kinds = {
            "set_based_stale_runs": set_based(course_id),
            "naive_runs": naive_loop(course_id),
            "naive_autocommit_runs": naive_loop(course_id, atomic=False),
        }
        for key in kinds:
            row[key] = []
            # One unmeasured run each first: the first pass over freshly loaded rows also sets
            # their hint bits and warms the caches, which would count against whoever goes first.
            make_stale([course_id])
            measure(kinds[key])
        for round_index in range(BASELINE_ROUNDS):
            order = list(kinds)[round_index % len(kinds) :] + list(kinds)[: round_index % len(kinds)]
            for key in order:
                make_stale([course_id])
                figures = measure(kinds[key])
                row[key].append(figures)
                log(f"size {size}: {key.removesuffix('_runs')} {figures}")
        make_stale([course_id])

    row["stale"] = measure(set_based(course_id))
    log(f"size {size}: stale {row['stale']}")
    row["unchanged"] = measure(set_based(course_id))
    log(f"size {size}: unchanged {row['unchanged']}")
    add_lesson(course_id)
    row["lesson_added"] = measure(set_based(course_id))
    log(f"size {size}: lesson added {row['lesson_added']}")

    if do_all:
        reset_data()
        started = time.perf_counter()
        courses = max(1, size // ALL_COURSE_SIZE)
        create_courses(f"all{size}-", courses=courses, enrollments=min(size, ALL_COURSE_SIZE))
        common.vacuum_analyze(*_tables())
        log(f"size {size}: --all data ({courses} courses) generated in {time.perf_counter() - started:.1f} s")
        row["all"] = measure(all_courses()) | {"courses": courses}
        log(f"size {size}: --all {row['all']}")
    reset_data()
    return row


def _tables():
    from courses.models import Course, Lesson
    from enrollments.models import Enrollment, LessonProgress

    return Course, Lesson, Enrollment, LessonProgress


def summarise(rows: list[dict]) -> dict:
    summary = {"sizes": {}}
    for row in rows:
        summary["sizes"][row["size"]] = {
            "stale_seconds": row["stale"]["seconds"],
            "unchanged_seconds": row["unchanged"]["seconds"],
            "lesson_added_seconds": row["lesson_added"]["seconds"],
            "statements": sorted({row[k]["statements"] for k in ("stale", "unchanged", "lesson_added")}),
            "all_seconds": row.get("all", {}).get("seconds"),
            "all_statements": row.get("all", {}).get("statements"),
            "all_courses": row.get("all", {}).get("courses"),
        }
    with_baseline = [row for row in rows if "naive_runs" in row]
    if with_baseline:
        row = with_baseline[0]
        naive = common.median([run["seconds"] for run in row["naive_runs"]])
        ours = common.median([run["seconds"] for run in row["set_based_stale_runs"]])
        autocommit = common.median([run["seconds"] for run in row["naive_autocommit_runs"]])
        summary["baseline"] = {
            "size": row["size"],
            "naive_seconds": naive,
            "naive_statements": row["naive_runs"][0]["statements"],
            "naive_autocommit_seconds": autocommit,
            "speedup_over_autocommit_loop": common.ratio(autocommit, ours),
            "set_based_seconds": ours,
            "set_based_statements": row["set_based_stale_runs"][0]["statements"],
            "speedup": common.ratio(naive, ours),
        }
        summary["target_speedup_met"] = (summary["baseline"]["speedup"] or 0) >= TARGET_RATIO
    if 100_000 in summary["sizes"]:
        figures = summary["sizes"][100_000]
        worst = max(figures["stale_seconds"], figures["unchanged_seconds"], figures["lesson_added_seconds"])
        summary["target_100k_met"] = worst < TARGET_SECONDS_100K
    return summary


def print_table(report: dict) -> None:
    print(f"\nProgress recalculation, {LESSONS} lessons per course, ~75 % done; {report['machine']['cores']} cores")
    header = (
        f"{'enrollments':>11} {'progress rows':>13} {'stale s':>8} {'unchanged s':>11} {'lesson added s':>14} "
        f"{'stmts':>6} {'--all s':>8} {'--all stmts':>11}"
    )
    print(header)
    print("-" * len(header))
    for row in report["rows"]:
        figures = report["summary"]["sizes"][row["size"]]
        print(
            f"{row['size']:>11,} {row['tables']['enrollments_lessonprogress']['rows']:>13,} "
            f"{figures['stale_seconds']:>8.3f} {figures['unchanged_seconds']:>11.3f} "
            f"{figures['lesson_added_seconds']:>14.3f} {','.join(map(str, figures['statements'])):>6} "
            f"{common.fmt(figures['all_seconds'], '.3f'):>8} {common.fmt(figures['all_statements'], 'd'):>11}"
        )
    baseline = report["summary"].get("baseline")
    if baseline:
        print(
            f"\nbaseline on {baseline['size']:,}: naive loop {baseline['naive_seconds']:.3f} s in "
            f"{baseline['naive_statements']:,} statements; set-based {baseline['set_based_seconds']:.3f} s in "
            f"{baseline['set_based_statements']} statements: {baseline['speedup']:.1f}x "
            f"(target >= {TARGET_RATIO}x: {'met' if report['summary']['target_speedup_met'] else 'NOT met'})"
        )
        print(
            f"the same loop in autocommit: {baseline['naive_autocommit_seconds']:.3f} s: "
            f"{baseline['speedup_over_autocommit_loop']:.1f}x"
        )
    if "target_100k_met" in report["summary"]:
        met = report["summary"]["target_100k_met"]
        print(f"100k enrollments under {TARGET_SECONDS_100K:.0f} s: {'met' if met else 'NOT met'}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench progress", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="enrollments per course, comma separated")
    parser.add_argument("--no-all", dest="do_all", action="store_false", help="skip the --all path")
    parser.add_argument("--no-completions", dest="do_completions", action="store_false",
                        help="skip the bulk-completion case")  # fmt: skip
    parser.add_argument("--only-completions", action="store_true", help="run the bulk-completion case alone")
    parser.add_argument("--drain-max", type=int, default=DRAIN_MAX,
                        help=f"most jobs a real worker drains afterwards (default {DRAIN_MAX})")  # fmt: skip
    parser.add_argument("--explain", action="store_true", help="EXPLAIN (ANALYZE, BUFFERS) the recalculation")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: proves it runs, measures nothing")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help="where the JSON results go")
    common.add_service_arguments(parser)
    args = parser.parse_args(argv)
    sizes = SMOKE_SIZES if args.smoke else sorted(int(size.replace("_", "")) for size in args.sizes.split(","))
    if not sizes or min(sizes) < 1:
        parser.error("--sizes must be positive numbers")

    def log(message: str) -> None:
        print(message, flush=True)

    from bench import _progress_completions as completions_case

    # The completions case publishes real jobs: a Redis of the run's own (or --broker-url).
    with common.services("progress", args) as (tmp_dir, broker_url):
        ensure_users(max(sizes))
        rows = []
        if not args.only_completions:
            rows = [
                run_size(size, baseline=index == 0, do_all=args.do_all, do_explain=args.explain, log=log)
                for index, size in enumerate(sizes)
            ]
        completions = []
        if args.do_completions or args.only_completions:
            completions = [
                completions_case.run_completions(
                    size,
                    baseline=index == 0,
                    drain_max=args.drain_max,
                    broker_url=broker_url,
                    database_url=args.database_url,
                    tmp_dir=tmp_dir,
                    log=log,
                )
                for index, size in enumerate(sizes)
            ]
        report = {
            "benchmark": "progress",
            "recorded_at": common.now_iso(),
            "sizes": sizes,
            "lessons": LESSONS,
            "machine": common.machine_info(broker_url=broker_url),
            "rows": rows,
            "summary": summarise(rows) if rows else {},
            "completions": completions,
            "completions_summary": completions_case.summarise_completions(completions) if completions else {},
            "smoke": args.smoke,
        }
    if rows:
        print_table(report)
    if completions:
        completions_case.print_completions(report["completions_summary"])
    common.write_results(args.output, report)
    return 0
