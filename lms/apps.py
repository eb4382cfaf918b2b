from django.apps import AppConfig


class LmsConfig(AppConfig):
    name = "lms"
    verbose_name = "LMS"

    def ready(self):
        # Import every app's tasks module now rather than lazily: a web process then knows
        # all registered tasks, so the periodic-task admin lists them in its select.
        from lms.celery import app

        app.autodiscover_tasks(force=True)

        from lms.jobs import beat, checks  # noqa: F401 - connect beat's guard, register the system checks
