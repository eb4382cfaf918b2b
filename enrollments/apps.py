from django.apps import AppConfig


class EnrollmentsConfig(AppConfig):
    name = "enrollments"

    def ready(self):
        from enrollments import signals  # noqa: F401 - connects the receivers
