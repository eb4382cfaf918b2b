"""The queues page, /admin/jobs/: staff only; its per-task figures and chart from the result store."""

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_results.models import TaskResult

from lms.jobs.queues import WINDOW_MINUTES, task_rows, throughput_svg

pytestmark = pytest.mark.django_db


def result(task_name: str, status: str, *, minutes_ago: float, retries: int = 0) -> None:
    row = TaskResult.objects.create(
        task_id=str(uuid.uuid4()), task_name=task_name, status=status, meta=json.dumps({"retries": retries})
    )
    TaskResult.objects.filter(pk=row.pk).update(date_done=timezone.now() - timedelta(minutes=minutes_ago))


def test_the_page_is_for_staff_only(client, learner):
    client.force_login(learner)

    response = client.get("/admin/jobs/")

    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_task_rows_count_the_last_hour_per_task_and_minute():
    # given results inside and outside the window
    result("a.task", "SUCCESS", minutes_ago=1)
    result("a.task", "SUCCESS", minutes_ago=1, retries=2)
    result("a.task", "FAILURE", minutes_ago=30)
    result("a.task", "SUCCESS", minutes_ago=90)  # too old
    result("b.task", "SUCCESS", minutes_ago=5)

    rows = {row.name: row for row in task_rows(failed_url="/admin/x/")}

    a = rows["a.task"]
    assert (a.succeeded, a.failed, a.retried) == (2, 1, 1)
    assert len(a.per_minute) == WINDOW_MINUTES
    assert sum(ok for ok, _ in a.per_minute) == 2 and sum(bad for _, bad in a.per_minute) == 1
    assert a.per_minute[-2][0] == 2  # a minute ago, in the last complete minute but one
    assert a.failed_url == "/admin/x/?status__exact=FAILURE&task_name__exact=a.task"
    assert list(rows) == ["a.task", "b.task"]  # the one with failures first


def test_throughput_svg_draws_a_bar_per_busy_minute_scaled_to_the_peak():
    svg = throughput_svg([(0, 0), (2, 0), (4, 4)], width=30, height=10)

    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('fill="#2e7d32"') == 2 and svg.count('fill="#c62828"') == 1
    assert 'height="5.0" fill="#c62828"' in svg  # 4 of a peak of 8 -> half the height


def test_the_page_renders_for_staff_with_the_broker_in_use(client, staff):
    client.force_login(staff)
    result("a.task", "FAILURE", minutes_ago=2)

    response = client.get("/admin/jobs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="queue-emails"' in html and 'data-task="a.task"' in html
    assert "<svg" in html


def test_the_admin_home_links_to_the_page(client, staff):
    client.force_login(staff)

    html = client.get("/admin/").content.decode()

    assert '<a href="/admin/jobs/">Jobs and queues</a>' in html
