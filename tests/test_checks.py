"""System checks lms.W001-W005: each one provoked through settings, and silent by default."""

import pytest
from django.core import checks
from django.db import connection
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from kombu import Queue

from lms.jobs import checks as lms_checks


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def all_lms_messages(*, deploy: bool = False, databases=None) -> list:
    messages = checks.run_checks(include_deployment_checks=deploy, databases=databases)
    return [m for m in messages if m.id and m.id.startswith("lms.")]


@pytest.mark.django_db
def test_checks_find_nothing_in_the_default_configuration(settings):
    settings.FLOWER_BASIC_AUTH = "ops:a-long-password"

    assert all_lms_messages(deploy=True, databases=["default"]) == []


# --- W001 visibility timeout ----------------------------------------------------------------


def test_visibility_timeout_shorter_than_a_retry_delay_plus_a_task_limit_warns(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/13"
    settings.TASK_MAX_DELAY_SECONDS = 60
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 1200}

    messages = lms_checks.check_visibility_timeout()

    assert ids(messages) == ["lms.W001"]
    # a retried job waits up to the e-mails' 10-minute backoff, then runs up to the 11-minute hard
    # limit of the maintenance tasks and the archive: 1,200 s is not enough
    assert "retry_backoff_max (600 s)" in messages[0].msg
    assert "time_limit (660 s)" in messages[0].msg
    assert "CELERY_VISIBILITY_TIMEOUT above 1260" in messages[0].hint


def test_visibility_timeout_shorter_than_a_retry_backoff_warns(settings, monkeypatch):
    from notifications.tasks import send_welcome_email

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/13"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 7200}
    monkeypatch.setattr(send_welcome_email, "retry_backoff_max", 3 * 60 * 60)

    messages = lms_checks.check_visibility_timeout()

    assert ids(messages) == ["lms.W001"]
    assert "notifications.tasks.send_welcome_email retry_backoff_max (10800 s) plus" in messages[0].msg


def test_visibility_timeout_defaults_to_kombus_hour_when_not_set(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/13"
    settings.TASK_MAX_DELAY_SECONDS = 2 * 60 * 60
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}

    assert ids(lms_checks.check_visibility_timeout()) == ["lms.W001"]


def test_visibility_timeout_is_not_checked_without_a_redis_broker(settings):
    settings.CELERY_BROKER_URL = "memory://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 1}

    assert lms_checks.check_visibility_timeout() == []


# --- W002 time zones ------------------------------------------------------------------------


def test_celery_and_django_time_zones_that_differ_warn(settings):
    settings.CELERY_TIMEZONE = "Europe/Paris"

    messages = lms_checks.check_timezones()

    assert ids(messages) == ["lms.W002"]
    assert "Europe/Paris" in messages[0].msg and "UTC" in messages[0].msg
    assert messages[0].hint == "Set CELERY_TIMEZONE = TIME_ZONE."


# --- W003 routes ----------------------------------------------------------------------------


def test_a_route_to_an_undeclared_queue_warns(settings):
    settings.CELERY_TASK_ROUTES = {
        **settings.CELERY_TASK_ROUTES,
        "enrollments.tasks.generate_weekly_report": {"queue": "reports"},
    }

    messages = lms_checks.check_routes_name_declared_queues()

    assert ids(messages) == ["lms.W003"]
    assert messages[0].obj == "enrollments.tasks.generate_weekly_report"
    assert "'reports'" in messages[0].msg
    assert "certificates, default, emails, progress" in messages[0].hint


def test_routes_as_a_list_and_queue_objects_are_understood(settings):
    settings.CELERY_TASK_ROUTES = [{"a.task": {"queue": Queue("emails")}}, {"b.*": {"queue": "nowhere"}}]

    assert [m.obj for m in lms_checks.check_routes_name_declared_queues()] == ["b.*"]


def test_an_undeclared_default_queue_warns(settings):
    settings.CELERY_TASK_DEFAULT_QUEUE = "celery"

    assert ids(lms_checks.check_routes_name_declared_queues()) == ["lms.W003"]


# --- W004 stored periodic tasks -------------------------------------------------------------


def _periodic(name: str, task: str, *, enabled: bool = True) -> PeriodicTask:
    crontab, _ = CrontabSchedule.objects.get_or_create(minute="0", hour="3")
    return PeriodicTask.objects.create(name=name, task=task, crontab=crontab, enabled=enabled)


@pytest.mark.django_db
def test_an_enabled_periodic_task_naming_an_unregistered_task_warns():
    _periodic("typo", "lms.users.tasks.cleanup_expired_tokenz")
    _periodic("disabled", "gone.task", enabled=False)
    _periodic("fine", "lms.users.tasks.cleanup_expired_tokens")

    messages = lms_checks.check_periodic_tasks_are_registered(databases=["default"])

    assert ids(messages) == ["lms.W004"]
    assert messages[0].obj == "typo"
    assert "cleanup_expired_tokenz" in messages[0].msg


@pytest.mark.django_db
def test_periodic_task_check_runs_only_when_asked_for_databases():
    _periodic("typo", "no.such.task")

    assert lms_checks.check_periodic_tasks_are_registered(databases=None) == []
    assert "lms.W004" in ids(all_lms_messages(databases=["default"]))


@pytest.mark.django_db
def test_periodic_task_check_passes_quietly_before_migrations():
    # given a database without django-celery-beat's tables (the drop is undone with the test)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {PeriodicTask._meta.db_table} CASCADE")

    assert lms_checks.check_periodic_tasks_are_registered(databases=["default"]) == []


# --- W005 Flower credentials ----------------------------------------------------------------


@pytest.mark.parametrize("credentials", ["", "  ", "ops", "ops:", ":secret", "ops:pw,broken"])
def test_missing_or_malformed_flower_credentials_outside_debug_warn_on_deploy(settings, credentials):
    settings.DEBUG = False
    settings.FLOWER_BASIC_AUTH = credentials

    messages = lms_checks.check_flower_credentials()

    assert ids(messages) == ["lms.W005"]
    assert "FLOWER_BASIC_AUTH" in messages[0].msg
    assert "FLOWER_BASIC_AUTH=user:" in messages[0].hint


def test_flower_credentials_are_a_deployment_check(settings):
    settings.DEBUG = False
    settings.FLOWER_BASIC_AUTH = ""

    assert "lms.W005" not in ids(all_lms_messages())
    assert "lms.W005" in ids(all_lms_messages(deploy=True))


def test_flower_credentials_are_not_required_in_debug_or_when_set(settings):
    settings.FLOWER_BASIC_AUTH = ""
    settings.DEBUG = True
    assert lms_checks.check_flower_credentials() == []

    settings.DEBUG = False
    settings.FLOWER_BASIC_AUTH = "ops:a-long-password,viewer:another-password"
    assert lms_checks.check_flower_credentials() == []
