"""The operator's queues page, /admin/jobs/ (staff): what lms.jobs.queues reads, on one page."""

from django.conf import settings
from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from lms.jobs import queues
from lms.jobs.beat import beat_last_tick_age, broker_redis


def _beat_age():
    try:
        return beat_last_tick_age(client=broker_redis())
    except Exception:  # noqa: BLE001 - the page renders with the broker down
        return None


def jobs_page(request):
    now = timezone.now()
    queue_rows, broker = queues.queue_rows(now)
    failed_url = reverse("admin:django_celery_results_taskresult_changelist")
    task_rows = queues.task_rows(now=now, failed_url=failed_url)
    for row in task_rows:
        row.chart = mark_safe(queues.throughput_svg(row.per_minute))  # noqa: S308 - numbers only
    overall = [
        (sum(r.per_minute[i][0] for r in task_rows), sum(r.per_minute[i][1] for r in task_rows))
        for i in range(queues.WINDOW_MINUTES)
    ]
    context = {
        **admin.site.each_context(request),
        "title": "Jobs and queues",
        "now": now,
        "broker": broker,
        "queue_rows": queue_rows,
        "task_rows": task_rows,
        "beat_age": _beat_age(),
        "window_minutes": queues.WINDOW_MINUTES,
        "failed_url": f"{failed_url}?status__exact=FAILURE",
        "outbox_url": reverse("admin:lms_outboxmessage_changelist"),
        "flower_url": settings.FLOWER_URL,
        "overall_chart": mark_safe(queues.throughput_svg(overall, width=600, height=60)),  # noqa: S308 - numbers only
    }
    return TemplateResponse(request, "admin/jobs.html", context)
