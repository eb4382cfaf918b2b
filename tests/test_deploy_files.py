"""Procfile and docker-compose.yml run the same processes; compose waits for healthy services."""

import yaml

from tests.processes import ROOT

DEPENDENCIES = ("postgres", "redis")


def procfile() -> dict[str, str]:
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            processes[name.strip()] = command.strip()
    return processes


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_procfile_runs_web_a_worker_per_queue_group_beat_and_flower():
    processes = procfile()

    assert set(processes) == {
        "web", "worker_emails", "worker_certificates", "worker_progress", "worker_bulk", "beat", "flower",
    }  # fmt: skip
    assert processes["web"].startswith("gunicorn lms.wsgi")
    assert "-Q emails " in processes["worker_emails"]
    assert "-Q certificates " in processes["worker_certificates"]
    assert "-Q progress,default " in processes["worker_progress"]
    # announcements alone on theirs, one chunk at a time per process (no chunk waits prefetched)
    assert "-Q bulk " in processes["worker_bulk"] and "--prefetch-multiplier 1" in processes["worker_bulk"]
    assert not any("bulk" in command for name, command in processes.items() if name != "worker_bulk")
    # beat's scheduler (with the single-beat lock) comes from settings, so no -S here
    assert processes["beat"].startswith("celery -A lms beat") and " -S " not in processes["beat"]
    assert processes["flower"] == "celery -A lms flower"


def test_compose_has_a_service_with_the_same_command_for_every_procfile_process():
    services = compose()["services"]

    for name, command in procfile().items():
        assert name in services, f"docker-compose.yml has no service {name!r}"
        assert services[name]["command"] == command, name


def test_compose_postgres_and_redis_have_healthchecks():
    services = compose()["services"]

    for name in DEPENDENCIES:
        healthcheck = services[name]["healthcheck"]
        assert healthcheck["test"], name
        assert healthcheck["interval"] and healthcheck["retries"], name


def test_compose_app_services_wait_for_healthy_postgres_and_redis_and_for_migrate():
    services = compose()["services"]

    for name in procfile():
        depends_on = services[name]["depends_on"]
        for dependency in DEPENDENCIES:
            assert depends_on[dependency] == {"condition": "service_healthy"}, (name, dependency)
        assert depends_on["migrate"] == {"condition": "service_completed_successfully"}, name


def test_compose_migrate_runs_once_and_installs_the_schedules():
    migrate = compose()["services"]["migrate"]

    assert "python manage.py migrate --no-input" in migrate["command"]
    assert "python manage.py setup_schedules" in migrate["command"]
    assert migrate["restart"] == "no"
    assert {migrate["depends_on"][name]["condition"] for name in DEPENDENCIES} == {"service_healthy"}


def test_compose_app_services_use_production_settings_and_the_env_file():
    services = compose()["services"]

    for name in (*procfile(), "migrate"):
        service = services[name]
        assert service["environment"]["DJANGO_SETTINGS_MODULE"] == "lms.settings_production", name
        assert service["env_file"] == "docker.env", name
        assert service["build"] == ".", name
    assert (ROOT / "docker.env.example").exists()
    assert (ROOT / "Dockerfile").exists()


def test_compose_publishes_flower_on_loopback_only():
    flower = compose()["services"]["flower"]

    assert flower["ports"] == ["127.0.0.1:5555:5555"]
    assert flower["environment"]["FLOWER_ADDRESS"] == "0.0.0.0"  # noqa: S104 - inside its container only


def test_compose_sends_every_email_to_mailpit_with_its_inbox_on_loopback():
    services = compose()["services"]

    assert services["mailpit"]["image"].startswith("axllent/mailpit")
    assert services["mailpit"]["ports"] == ["127.0.0.1:8025:8025"]
    for name in procfile():
        environment = services[name]["environment"]
        assert environment["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend", name
        assert (environment["EMAIL_HOST"], environment["EMAIL_PORT"]) == ("mailpit", "1025"), name
        assert "mailpit" in services[name]["depends_on"], name
