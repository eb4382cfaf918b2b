"""The web app of `python -m bench enroll` without the enrollment e-mail: lms.wsgi's application
with notifications' enrollment_started receiver disconnected, so enrolling queues nothing (no
outbox row, no publish). The baseline build; only the benchmark serves it.

    gunicorn bench._enroll_wsgi:application
"""

from enrollments.events import enrollment_started
from lms.wsgi import application

# Connected by NotificationsConfig.ready(), which get_wsgi_application() has run by now.
if not enrollment_started.disconnect(dispatch_uid="notifications.enrollment_started"):
    raise RuntimeError("notifications' enrollment_started receiver was not connected; the baseline would be wrong")

__all__ = ["application"]
