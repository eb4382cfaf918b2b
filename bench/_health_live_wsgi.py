"""The web app of `python -m bench health` as it was before the health answer was cached:
lms.wsgi's application with GET /api/health/ computing every probe on every call and pinging
the workers with a 0.5 s broadcast (the seed's behaviour). The baseline build; only the
benchmark serves it.

    gunicorn bench._health_live_wsgi:application
"""

from lms.wsgi import application

SEED_PING_TIMEOUT_SECONDS = 0.5


def _install_seed_health() -> None:
    # Imported here, once lms.wsgi has set Django up.
    from lms import api
    from lms.celery import app
    from lms.jobs import health

    def seed_report() -> dict:
        report = health.health_report(count_workers=False)
        if report["broker"] == health.OK:
            report["workers"] = len(app.control.ping(timeout=SEED_PING_TIMEOUT_SECONDS) or [])
        return report

    api.health_report_cached = seed_report


_install_seed_health()

__all__ = ["application"]
