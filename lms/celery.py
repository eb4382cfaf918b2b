"""The Celery application: `celery -A lms worker|beat|flower` finds `app` here."""

import contextlib
import os

from celery import Celery
from kombu.exceptions import SerializerNotInstalled
from kombu.serialization import registry

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")

app = Celery("lms", task_cls="lms.task_base:LmsTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# JSON only, both ways (DESIGN.md). CELERY_ACCEPT_CONTENT makes every worker refuse to *read*
# anything else; taking the unsafe serializers out of kombu's registry makes every process that
# imports this app refuse to *write* them too, so `apply_async(serializer="pickle")` fails at the
# caller instead of queueing a message no worker will (or should) open.
for _unsafe in ("pickle", "yaml", "msgpack"):
    with contextlib.suppress(SerializerNotInstalled):
        registry.unregister(_unsafe)
