"""The Celery application: `celery -A lms worker|beat|flower` finds `app` here."""

import contextlib
import os

from celery import Celery, signals
from celery.apps.beat import Beat
from kombu.exceptions import SerializerNotInstalled
from kombu.serialization import registry
from kombu.utils.objects import cached_property

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")

# What `beat -S django` names: django-celery-beat's plain DatabaseScheduler, which knows nothing
# of the single-beat lock (lms/jobs/beat.py).
PLAIN_DATABASE_SCHEDULERS = (
    "django",
    "django_celery_beat.schedulers:DatabaseScheduler",
    "django_celery_beat.schedulers.DatabaseScheduler",
)


class LmsBeat(Beat):
    """`celery -A lms beat [-S django]`: the configured scheduler, i.e. the database scheduler
    behind the single-beat lock, so no way of starting beat sends periodic tasks twice."""

    def __init__(self, *args, scheduler=None, scheduler_cls=None, **kwargs):
        if (scheduler or scheduler_cls) in PLAIN_DATABASE_SCHEDULERS:
            scheduler = scheduler_cls = None  # Beat then takes CELERY_BEAT_SCHEDULER
        super().__init__(*args, scheduler=scheduler, scheduler_cls=scheduler_cls, **kwargs)


class LmsCelery(Celery):
    @cached_property
    def Beat(self):
        return self.subclass_with_self(LmsBeat)


# Celery's Django fixup with one rule changed: workers keep database connections between jobs
# (lms/jobs/connections.py). Naming the fixups replaces Celery's built-in list, which holds
# only the Django one.
app = LmsCelery("lms", task_cls="lms.jobs.task_base:LmsTask", fixups=["lms.jobs.connections:fixup"])
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Every worker keeps a heartbeat key the health check counts (lms/jobs/heartbeat.py); named,
# so only a worker imports it.
app.steps["worker"].add("lms.jobs.heartbeat:WorkerHeartbeat")


@signals.import_modules.connect(weak=False)
def _flower_guard(sender=None, **kwargs):
    # Flower sends this once its options are final; no credentials outside DEBUG -> it exits.
    from lms.jobs.flower import flower_guard

    flower_guard(sender=sender, **kwargs)


import lms.jobs.stamps  # noqa: E402, F401 - connects the publish-time header (the queues page)

# JSON only, both ways (DESIGN.md). CELERY_ACCEPT_CONTENT makes every worker refuse to *read*
# anything else; taking the unsafe serializers out of kombu's registry makes every process that
# imports this app refuse to *write* them too, so `apply_async(serializer="pickle")` fails at the
# caller instead of queueing a message no worker will (or should) open.
for _unsafe in ("pickle", "yaml", "msgpack"):
    with contextlib.suppress(SerializerNotInstalled):
        registry.unregister(_unsafe)
