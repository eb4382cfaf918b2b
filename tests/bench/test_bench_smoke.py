import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_bench_certificates_smoke_run_writes_positive_rates(tmp_path):
    # given
    output = tmp_path / "certificates.json"

    # when
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "certificates", "--smoke", "--output", str(output)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # then: it ran and recorded every default variant; no timing is asserted
    assert completed.returncode == 0, completed.stderr
    report = json.loads(output.read_text())
    assert report["smoke"] is True
    scripts = {"accented", "cyrillic", "greek", "arabic", "hebrew", "cjk", "devanagari", "bengali", "tamil", "thai"}
    assert set(report["variants"]) == {"ours", "naive", "bare", "minimal"} | {f"ours_{script}" for script in scripts}
    for variant in report["variants"].values():
        assert variant["count"] == 5
        assert variant["per_core_per_second"] > 0
        assert variant["wall_per_second"] > 0
    assert report["ratios"]["ours_over_naive"] > 0


def test_bench_lists_benchmarks_for_an_unknown_name():
    # given
    command = [sys.executable, "-m", "bench", "no-such-benchmark"]

    # when
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)

    # then
    assert completed.returncode == 2
    assert "certificates" in completed.stdout


# --- The end-to-end benchmarks: real PostgreSQL, Redis, workers and gunicorn -------------------
# Each runs on the test database (which it empties: the test is transactional, so pytest-django
# empties it again afterwards) and its own throw-away redis-server. Only that they run and
# report coherent counts is checked; speed never fails a test.


def run_bench(name: str, output: Path, *extra: str) -> dict:
    from tests.processes import shared_database_url

    completed = subprocess.run(
        [sys.executable, "-m", "bench", name, "--smoke", "--output", str(output),
         "--database-url", shared_database_url(), *extra],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = json.loads(output.read_text())
    assert report["smoke"] is True
    return report


@pytest.mark.integration
def test_bench_pipeline_smoke_drains_every_subject_and_compares_them_with_stock_celery(transactional_db, tmp_path):
    # when
    report = run_bench("pipeline", tmp_path / "pipeline.json")

    # then: every subject enqueued and drained its jobs, and the ratios are there
    (round_,) = report["throughput"]
    for subject in ("welcome", "notification", "noop", "stock", "ceiling", "redis"):
        assert round_[subject]["n"] == 40
        assert round_[subject]["drain_per_second"] > 0
        assert round_[subject]["cpu_ms_per_task"] > 0
        if subject != "ceiling":  # it stores no result to time a job by
            assert report["latency"][0][subject]["p50_ms"] > 0
    assert round_["welcome"]["outbox_enqueue_per_second"] > 0
    ratios = report["summary"]["ratios"]
    assert ratios["welcome_over_stock_drain"] > 0 and ratios["stock_over_ceiling_drain"] > 0


@pytest.mark.integration
def test_bench_enroll_smoke_queues_one_job_per_enrollment_and_none_without_the_receiver(transactional_db, tmp_path):
    # when
    report = run_bench("enroll", tmp_path / "enroll.json")

    # then (JSON object keys: the status codes are strings)
    enqueue, baseline = report["runs"]
    assert (enqueue["variant"], baseline["variant"]) == ("enqueue", "baseline")
    for run in report["runs"]:
        assert run["statuses"].get("201", 0) > 0, run
        assert set(run["statuses"]) == {"201"}
        assert run["jobs_match"], run
    assert enqueue["jobs_queued"] == enqueue["enrollments_created"]
    assert baseline["jobs_queued"] == 0
    assert report["summary"]["ratios_enqueue_over_baseline"]["p50"] > 0


@pytest.mark.integration
def test_bench_progress_smoke_recalculates_with_a_constant_number_of_statements(transactional_db, tmp_path):
    # when
    report = run_bench("progress", tmp_path / "progress.json")

    # then: the same statements whatever the size; the loop needs two per enrollment
    sizes = report["summary"]["sizes"]
    assert {tuple(figures["statements"]) for figures in sizes.values()} == {(2,)}
    small = report["rows"][0]
    assert small["stale"]["outcome"]["changed"] == small["size"]
    assert small["unchanged"]["outcome"]["changed"] == 0
    assert small["naive_runs"][0]["statements"] == 2 * small["size"] + 2
    assert report["summary"]["baseline"]["speedup"] > 0

    # and the bulk completions: the same statements whatever the completions, every job on the
    # broker and none left in the outbox, then a real worker issuing each certificate once
    completions = report["completions_summary"]
    sizes = [size for size in completions if size.isdigit()]
    assert {tuple(completions[size]["command_statements"]) for size in sizes} == {(5,)}
    for size in sizes:
        figures = completions[size]
        assert figures["completions"] == int(size) // 20
        jobs = -(-figures["completions"] // settings.CERTIFICATES_PER_JOB)  # certificates in jobs of 25
        assert figures["queued"] == [jobs] and figures["left_in_outbox"] == 0
        assert figures["drained"]["exactly_once"] is True
    assert completions[sizes[0]]["naive_loop_statements"] > completions[sizes[0]]["command_statements"][0]


@pytest.mark.integration
def test_bench_certificates_e2e_smoke_issues_every_certificate(transactional_db, tmp_path):
    # when
    report = run_bench("certificates_e2e", tmp_path / "certificates_e2e.json")

    # then
    # then both paths issued every certificate, the fan-out one in one job of up to 25
    (round_,) = report["rounds_detail"]
    assert round_["fan_out"]["certificates_issued"] == round_["single"]["certificates_issued"] == 6
    assert round_["fan_out"]["jobs"] == 1 and round_["single"]["jobs"] == 6
    assert round_["single"]["pdf_files_total"] == 12  # both modes' files, in one folder
    assert round_["fan_out"]["emails_left_queued"] == round_["single"]["emails_left_queued"] == 6
    assert round_["render"]["per_core_per_second"] > 0
    assert report["summary"]["fan_out_ratios"]["cpu_over_render_cpu"] > 0
    assert report["summary"]["fan_out_over_single"] > 0


@pytest.mark.integration
def test_bench_health_smoke_measures_courses_idle_and_under_health_polling(transactional_db, tmp_path):
    # when (the cached variant only: the seed's pings make even a smoke run slow)
    report = run_bench("health", tmp_path / "health.json", "--variants", "ours")

    # then: both phases measured, every health call answered with the one running worker
    ours = report["variants"]["ours"]
    assert ours["idle"]["samples"] >= 5 and ours["under_health_load"]["samples"] >= 5
    assert ours["idle"]["p99_ms"] > 0 and ours["p99_ratio"] > 0
    assert ours["health"]["calls"] >= report["health_clients"]
    assert ours["health"]["wrong_worker_count"] == 0


@pytest.mark.integration
def test_bench_announcements_smoke_delivers_every_message_and_measures_each_phase(transactional_db, tmp_path):
    # when
    report = run_bench("announcements", tmp_path / "announcements.json")

    # then
    assert report["ledger"]["recipients"] == report["delivery"]["n"] == 300
    assert report["delivery"]["per_second"] > 0 and report["baseline_send_notification"]["per_second"] > 0
    assert report["password_reset_during_drain"]["probes"] >= 1
    assert report["rate_limit"]["n"] == 100 and report["rate_limit"]["measured_per_second"] > 0
