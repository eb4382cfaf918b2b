"""The bulk-completion case of `python -m bench progress` (its docstring says what is measured):
one recalculation completing 5 % of a course at once, against the UPDATE alone and the naive
loop, then a real worker draining the certificate jobs."""

import json
import time
from pathlib import Path

from bench import _common as common
from bench.progress import (
    BASELINE_ROUNDS,
    COMPLETION_EVERY,
    TARGET_SECONDS_100K,
    _cursor,
    _Null,
    _tables,
    create_courses,
    measure,
    naive_loop,
    reset_data,
    set_based,
)


def make_stale_and_active(course_ids: list[str], *, broker_url: str) -> None:
    """Put the completions case back: stale zero figures, nobody completed, no job pending."""
    import redis
    from django.db import transaction

    from lms.models import OutboxMessage

    with transaction.atomic(), _cursor() as cursor:
        cursor.execute(
            """
            UPDATE enrollments_enrollment SET completed_lessons_count = 0, total_lessons_count = 0,
                   progress_percentage = 0, completed_at = NULL,
                   status = CASE WHEN status = 'dropped' THEN 'dropped' ELSE 'active' END
            WHERE course_id = ANY(%s::uuid[])
            """,
            [course_ids],
        )
    common.truncate(OutboxMessage)
    redis.Redis.from_url(broker_url).flushdb()


def command_recalculate(course_id: str):
    """`manage.py recalculate_progress --course <id>`, as an operator runs it."""
    from django.core.management import call_command

    def run():
        call_command("recalculate_progress", "--course", course_id, stdout=_Null(), stderr=_Null())
        return {}

    return run


def update_alone(course_id: str):
    """The same recalculation with no job queued for what it completes: the floor."""
    from certificates.signals import enrollments_completed_certificates
    from enrollments.events import enrollments_completed

    def run():
        uid = "certificates.enrollments_completed"
        enrollments_completed.disconnect(dispatch_uid=uid)
        try:
            return set_based(course_id)()
        finally:
            enrollments_completed.connect(enrollments_completed_certificates, dispatch_uid=uid)

    return run


def after_dispatch(broker_url: str) -> dict:
    """Where the jobs of a run are: still in the outbox, or queued for the certificates worker."""
    import redis

    from lms.models import OutboxMessage

    return {"outbox": OutboxMessage.objects.count(), "queued": redis.Redis.from_url(broker_url).llen("certificates")}


def drain_with_worker(expected: int, *, broker_url: str, database_url: str, tmp_dir: Path, log) -> dict:
    """A real `celery -A lms worker -Q certificates -c 2` issues the queued certificates; counts
    what it did (each figure must equal `expected`)."""
    from django.conf import settings
    from django.db.models import Max, Min
    from django_celery_results.models import TaskResult

    from certificates.models import Certificate

    media_dir = tmp_dir / f"media-{time.monotonic_ns()}"
    media_dir.mkdir()
    with common.Processes() as processes:
        name = f"bench-progress-{time.monotonic_ns() % 10**8}@bench"
        command = common.celery_worker_command(app="lms", name=name, queues="certificates", concurrency=2,
                                               extra=("--prefetch-multiplier", "1"))  # fmt: skip
        env = common.service_env(database_url=database_url, broker_url=broker_url, MEDIA_ROOT=str(media_dir),
                                 EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")  # fmt: skip
        worker = processes.start(name, command, env=env, log_path=tmp_dir / "worker.log")
        common.wait_worker_ready(worker)
        jobs = -(-expected // settings.CERTIFICATES_PER_JOB)
        common.ConsumerSwitch(None, worker, "certificates").wait_results(
            jobs, timeout=120 + expected, what="certificate jobs"
        )
    results = TaskResult.objects.filter(task_name="certificates.tasks.generate_certificates")
    span = results.aggregate(first=Min("date_created"), last=Max("date_done"))
    issued = [pk for result in results.filter(status="SUCCESS") for pk in json.loads(result.result)["issued"]]
    drained = {
        "jobs": jobs,
        "successful_jobs": results.filter(status="SUCCESS").count(),
        "certificates": Certificate.objects.count(),
        "distinct_enrollments": Certificate.objects.values("enrollment_id").distinct().count(),
        "issued_by_results": len(issued),
        "pdf_files": len(list((media_dir / "certificates").glob("*.pdf"))),
        "seconds": round((span["last"] - span["first"]).total_seconds(), 2) if span["first"] else None,
    }
    drained["exactly_once"] = (
        drained["successful_jobs"] == jobs
        and len(set(issued)) == len(issued)
        and all(
            drained[key] == expected
            for key in ("certificates", "distinct_enrollments", "issued_by_results", "pdf_files")
        )
    )
    log(f"worker drained: {drained}")
    return drained


def run_completions(size: int, *, baseline: bool, drain_max: int, broker_url: str, database_url: str,
                    tmp_dir: Path, log) -> dict:  # fmt: skip
    row = {"size": size}
    reset_data()
    started = time.perf_counter()
    (course_id,) = create_courses(f"done{size}-", courses=1, enrollments=size, shape="completions")
    common.vacuum_analyze(*_tables())
    log(f"completions {size}: generated in {time.perf_counter() - started:.1f} s")
    kinds = {"command_runs": command_recalculate(course_id), "update_alone_runs": update_alone(course_id)}
    if baseline:
        kinds["naive_loop_runs"] = naive_loop(course_id, certificates=True)
    for key in kinds:  # one unmeasured run each (hint bits, caches), as above
        make_stale_and_active([course_id], broker_url=broker_url)
        measure(kinds[key])
        row[key] = []
    for round_index in range(BASELINE_ROUNDS):
        order = list(kinds)[round_index % len(kinds) :] + list(kinds)[: round_index % len(kinds)]
        for key in order:
            make_stale_and_active([course_id], broker_url=broker_url)
            figures = measure(kinds[key]) | after_dispatch(broker_url)
            row[key].append(figures)
            log(f"completions {size}: {key.removesuffix('_runs')} {figures}")
    # The last run, measured again so its jobs are the ones the worker drains.
    make_stale_and_active([course_id], broker_url=broker_url)
    row["command"] = measure(command_recalculate(course_id)) | after_dispatch(broker_url)
    with _cursor() as cursor:
        cursor.execute("SELECT count(*) FROM enrollments_enrollment WHERE status = 'completed'")
        row["completions"] = cursor.fetchone()[0]
    log(f"completions {size}: command {row['command']}, {row['completions']} completed")
    if row["completions"] <= drain_max:
        row["drained"] = drain_with_worker(row["completions"], broker_url=broker_url, database_url=database_url,
                                           tmp_dir=tmp_dir, log=log)  # fmt: skip
    reset_data()
    return row


def summarise_completions(rows: list[dict]) -> dict:
    def med(row, key):
        return common.median([run["seconds"] for run in row[key]])

    summary = {}
    for row in rows:
        command, alone = med(row, "command_runs"), med(row, "update_alone_runs")
        figures = {
            "completions": row["completions"],
            "command_seconds": command,
            "command_statements": sorted({run["statements"] for run in row["command_runs"]}),
            "update_alone_seconds": alone,
            "update_alone_statements": row["update_alone_runs"][0]["statements"],
            "command_over_update_alone": common.ratio(command, alone),
            "left_in_outbox": max(run["outbox"] for run in row["command_runs"]),
            "queued": sorted({run["queued"] for run in row["command_runs"]}),
            "drained": row.get("drained"),
        }
        if "naive_loop_runs" in row:
            naive = med(row, "naive_loop_runs")
            figures |= {
                "naive_loop_seconds": naive,
                "naive_loop_statements": row["naive_loop_runs"][0]["statements"],
                "speedup_over_naive_loop": common.ratio(naive, command),
            }
        summary[row["size"]] = figures
    if 100_000 in summary:
        summary["target_100k_met"] = summary[100_000]["command_seconds"] < TARGET_SECONDS_100K
    return summary


def print_completions(summary: dict) -> None:
    print(f"\nBulk completions: stale figures, every {COMPLETION_EVERY}th enrollment newly complete "
          "(`manage.py recalculate_progress --course`)")  # fmt: skip
    header = (f"{'enrollments':>11} {'completed':>9} {'command s':>9} {'stmts':>6} {'UPDATE alone s':>14} "
              f"{'ratio':>6} {'naive loop s':>12} {'speedup':>8} {'worker: once':>12}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for size, figures in summary.items():
        if not isinstance(size, int):
            continue
        drained = figures["drained"]
        once = "-" if drained is None else ("yes" if drained["exactly_once"] else "NO")
        print(
            f"{size:>11,} {figures['completions']:>9,} {figures['command_seconds']:>9.3f} "
            f"{','.join(map(str, figures['command_statements'])):>6} {figures['update_alone_seconds']:>14.3f} "
            f"{common.fmt(figures['command_over_update_alone'], '.2f'):>6} "
            f"{common.fmt(figures.get('naive_loop_seconds'), '.3f'):>12} "
            f"{common.fmt(figures.get('speedup_over_naive_loop'), '.1f'):>8} {once:>12}"
        )
    if "target_100k_met" in summary:
        print(f"100k with 5 % completing under {TARGET_SECONDS_100K:.0f} s: "
              f"{'met' if summary['target_100k_met'] else 'NOT met'}")  # fmt: skip
