"""GET /api/tasks/{task_id}/: staff read a job's state from the result store."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from lms.users.tasks import cleanup_expired_tokens

pytestmark = pytest.mark.django_db


def url(task_id: str) -> str:
    return f"/api/tasks/{task_id}/"


def test_task_status_needs_authentication(api_client):
    assert api_client.get(url(str(uuid.uuid4()))).status_code == 401


def test_task_status_is_for_staff_only(learner_client):
    assert learner_client.get(url(str(uuid.uuid4()))).status_code == 403


def test_task_status_of_an_unknown_id_is_pending(staff_client):
    task_id = str(uuid.uuid4())

    response = staff_client.get(url(task_id))

    assert response.status_code == 200
    assert response.json() == {
        "task_id": task_id,
        "task_name": None,
        "status": "PENDING",
        "result": None,
        "date_done": None,
        "progress": None,
    }


def test_task_status_of_a_finished_task_has_its_decoded_result(staff_client, learner):
    # given a job that ran and stored its summary
    OutstandingToken.objects.create(user=learner, jti="old", token="x", expires_at=timezone.now() - timedelta(days=1))
    task_id = cleanup_expired_tokens.apply().id

    response = staff_client.get(url(task_id))

    # then the answer has the result as JSON, not as a JSON string
    assert response.status_code == 200
    body = response.json()
    assert body["task_id"] == task_id
    assert body["task_name"] == "lms.users.tasks.cleanup_expired_tokens"
    assert body["status"] == "SUCCESS"
    assert body["result"] == {"tokens_deleted": 1, "blacklist_entries_deleted": 0}
    assert body["date_done"] is not None


def test_task_status_of_a_failed_task_shows_the_error(staff_client, settings):
    settings.ADMINS = []
    task_id = cleanup_expired_tokens.apply(args=["unexpected"]).id

    body = staff_client.get(url(task_id)).json()

    assert body["status"] == "FAILURE"
    assert body["result"]["exc_type"] == "TypeError"


def test_task_status_route_has_a_name_for_status_urls():
    from django.urls import reverse

    assert reverse("task-status", args=["abc"]) == "/api/tasks/abc/"
