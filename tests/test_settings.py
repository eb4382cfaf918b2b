"""Configuration: the embedded defaults, environment overrides, production refusal, Celery."""

import json
import os
import subprocess
import sys

from django.conf import settings

from lms.celery import app
from tests.processes import ROOT

CONFIG_KEYS = ("DATABASES", "TASKS_FORCE_INLINE", "EMAIL_BACKEND", "EMAIL_FILE_PATH", "MEDIA_ROOT")


def run_python(code: str, env: dict[str, str], settings_module: str = "lms.settings") -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CELERY_", "REDIS_", "DJANGO_"))}
    clean.update(DJANGO_SETTINGS_MODULE=settings_module, **env)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)


def settings_in_subprocess(env: dict[str, str]) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "from rest_framework.settings import api_settings as a; "
        f"print(json.dumps({{k: getattr(s, k) for k in {CONFIG_KEYS!r}}} | "
        "{'THROTTLE': a.DEFAULT_THROTTLE_RATES, 'BROKER': s.CELERY_BROKER_URL}, default=str))"
    )
    result = run_python(code, env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_embedded_defaults_need_no_services():
    config = settings_in_subprocess({})

    assert config["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert config["DATABASES"]["default"]["NAME"].endswith("var/db.sqlite3")
    assert config["TASKS_FORCE_INLINE"] is True
    assert config["EMAIL_BACKEND"] == "django.core.mail.backends.filebased.EmailBackend"
    assert config["EMAIL_FILE_PATH"].endswith("var/mail")
    assert config["MEDIA_ROOT"].endswith("var/media")


def test_environment_overrides_database_broker_and_throttle():
    config = settings_in_subprocess(
        {
            "DATABASE_URL": "postgres://u:p@db.internal:5433/lms",
            "REDIS_URL": "redis://cache:6379/2",
            "AUTH_THROTTLE_RATE": "5/hour",
        }
    )

    db = config["DATABASES"]["default"]
    assert (db["ENGINE"], db["HOST"], db["PORT"], db["NAME"]) == (
        "django.db.backends.postgresql",
        "db.internal",
        5433,
        "lms",
    )
    assert config["BROKER"] == "redis://cache:6379/2"
    assert config["TASKS_FORCE_INLINE"] is False
    assert config["THROTTLE"]["auth"] == "5/hour"


def test_a_dot_env_file_is_read_and_the_environment_wins(tmp_path):
    # given a .env naming a database, a broker and a throttle rate
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# copied from .env.example\n"
        "DATABASE_URL=postgres://lms:secret@db.internal:5432/lms\n"
        "export CELERY_BROKER_URL=redis://cache.internal:6379/0\n"
        "AUTH_THROTTLE_RATE=3/min\n"
    )

    # when settings load with it, and with the throttle rate also set in the environment
    config = settings_in_subprocess({"LMS_ENV_FILE": str(dotenv), "AUTH_THROTTLE_RATE": "7/min"})

    # then the file's values apply, except where the environment says otherwise
    assert config["DATABASES"]["default"]["HOST"] == "db.internal"
    assert config["BROKER"] == "redis://cache.internal:6379/0"
    assert config["TASKS_FORCE_INLINE"] is False
    assert config["THROTTLE"]["auth"] == "7/min"


def test_no_dot_env_file_means_the_embedded_defaults(tmp_path):
    config = settings_in_subprocess({"LMS_ENV_FILE": str(tmp_path / "missing.env")})

    assert config["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"


def test_tasks_force_inline_wins_over_a_configured_broker():
    config = settings_in_subprocess({"CELERY_BROKER_URL": "redis://x:6379/0", "TASKS_FORCE_INLINE": "true"})

    assert config["TASKS_FORCE_INLINE"] is True


def test_production_settings_refuse_to_start_without_a_real_secret_key():
    result = run_python("import django; django.setup()", {}, settings_module="lms.settings_production")

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_settings_pass_the_deploy_check():
    env = {
        "SECRET_KEY": "x9" * 30 + "-production-like-secret-key",
        "ALLOWED_HOSTS": "lms.example.com",
        "DATABASE_URL": "postgres://u:p@db:5432/lms",
        "FLOWER_BASIC_AUTH": "ops:a-long-flower-password",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
            **env,
            "DJANGO_SETTINGS_MODULE": "lms.settings_production",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_celery_is_configured_as_the_design_says():
    conf = app.conf

    assert conf.task_serializer == conf.result_serializer == "json"
    assert list(conf.accept_content) == ["json"]
    assert conf.timezone == "UTC" and conf.enable_utc
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 4
    assert (
        conf.result_expires.total_seconds() == 3600
        if hasattr(conf.result_expires, "total_seconds")
        else conf.result_expires == 3600
    )
    assert conf.result_backend == "lms.jobs.result_store:ResultBackend"  # django-db, one statement per write
    assert conf.result_extended and conf.task_track_started
    assert conf.beat_scheduler == "lms.jobs.beat:LockedDatabaseScheduler"
    assert conf.beat_sync_every == 1
    assert not conf.beat_schedule


def test_every_route_names_a_declared_queue_and_every_task_is_routed():
    declared = {queue.name for queue in app.conf.task_queues}
    assert declared == {"default", "emails", "certificates", "progress", "bulk"}

    routes = app.conf.task_routes
    assert {route["queue"] for route in routes.values()} <= declared
    ours = [name for name in app.tasks if not name.startswith("celery.")]
    assert ours, "task modules were not imported at start-up"
    assert [name for name in ours if name not in routes] == []


def test_email_tasks_go_to_the_emails_queue():
    for name in ("send_welcome_email", "send_verification_email", "send_password_reset_email", "send_notification"):
        task = app.tasks[f"notifications.tasks.{name}"]
        assert app.amqp.router.route({}, task.name)["queue"].name == "emails"


def test_announcement_jobs_go_to_bulk_and_the_tick_to_default():
    route = app.amqp.router.route
    assert route({}, "notifications.tasks.fan_out_announcement")["queue"].name == "bulk"
    assert route({}, "notifications.tasks.deliver_announcement_chunk")["queue"].name == "bulk"
    # the tick starts scheduled announcements: it must never wait behind a backlog on bulk
    assert route({}, "notifications.tasks.announcements_tick")["queue"].name == "default"


def test_redis_visibility_timeout_exceeds_every_time_limit_and_retry_delay():
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert visibility > settings.TASK_MAX_DELAY_SECONDS
    for name, task in app.tasks.items():
        if name.startswith("celery."):
            continue
        assert task.time_limit and task.soft_time_limit, f"{name} has no time limits"
        assert task.time_limit <= settings.TASK_MAX_DELAY_SECONDS
        assert (getattr(task, "retry_backoff_max", 0) or 0) <= settings.TASK_MAX_DELAY_SECONDS


def test_beat_scheduler_is_django_celery_beats_database_scheduler_behind_a_lock():
    from django_celery_beat.schedulers import DatabaseScheduler

    from lms.jobs.beat import LockedDatabaseScheduler

    assert issubclass(LockedDatabaseScheduler, DatabaseScheduler)
    assert DatabaseScheduler(app=app, lazy=True).max_interval < settings.BEAT_LOCK_TIMEOUT


def test_production_deploy_check_reports_missing_flower_credentials():
    env = {
        "SECRET_KEY": "x9" * 30 + "-production-like-secret-key",
        "ALLOWED_HOSTS": "lms.example.com",
        "DJANGO_SETTINGS_MODULE": "lms.settings_production",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FLOWER_"))}, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "lms.W005" in result.stderr
