from django.apps import AppConfig


class LmsConfig(AppConfig):
    name = "lms"
    verbose_name = "LMS"

    def ready(self):
        from django.db.models.signals import post_migrate

        # Import every app's tasks module now rather than lazily: a web process then knows
        # all registered tasks, so the periodic-task admin lists them in its select.
        from lms.celery import app

        app.autodiscover_tasks(force=True)

        from lms.jobs import beat, checks  # noqa: F401 - connect beat's guard, register the system checks

        # The default schedules are installed by `migrate` (idempotent, never overwriting an edit).
        post_migrate.connect(_install_default_schedules, sender=self, dispatch_uid="lms.install_default_schedules")


def _install_default_schedules(sender, **kwargs):
    from lms.services import schedules_install_after_migrate

    schedules_install_after_migrate(**kwargs)
