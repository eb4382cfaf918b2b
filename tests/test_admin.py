"""Admin pages staff rely on: they render, and show what they promise."""

import json

import pytest
from django_celery_results.models import TaskResult

pytestmark = pytest.mark.django_db


def test_task_results_list_shows_name_worker_and_queue(client, staff):
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    TaskResult.objects.create(
        task_id="t-1",
        task_name="notifications.tasks.send_welcome_email",
        status="SUCCESS",
        worker="emails@host",
        meta=json.dumps({"queue": "emails", "children": []}),
    )

    page = client.get("/admin/django_celery_results/taskresult/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "notifications.tasks.send_welcome_email" in html and "emails@host" in html
    assert '<td class="field-queue">emails</td>' in html


def test_every_admin_list_renders_for_a_superuser(client, django_user_model):
    from django.contrib import admin
    from django.urls import reverse

    from certificates.services import certificate_issue
    from notifications.services import notification_welcome
    from tests.certificates.helpers import completed_enrollment

    # given a row in the main tables, so list columns are rendered, not just headers
    enrollment = completed_enrollment()
    certificate_issue(enrollment_id=enrollment.pk)
    notification_welcome(user=enrollment.student)
    client.force_login(django_user_model.objects.create_superuser(email="root@example.com", password="x" * 12))

    failures = []
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        if client.get(url).status_code != 200:
            failures.append(url)

    assert failures == []
