import pytest

from notifications.services import notification_welcome
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_list_shows_only_the_callers_notifications_newest_first(learner, other_learner, learner_client):
    mine = notification_welcome(user=learner)
    notification_welcome(user=other_learner)

    response = learner_client.get("/api/notifications/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert body["results"][0]["id"] == str(mine.pk)
    assert set(body["results"][0]) == {"id", "kind", "subject", "body", "created_at", "read_at"}


def test_read_marks_it_read_once(learner, learner_client):
    notification = notification_welcome(user=learner)

    first = learner_client.post(f"/api/notifications/{notification.pk}/read/")
    second = learner_client.post(f"/api/notifications/{notification.pk}/read/")

    assert first.status_code == second.status_code == 200
    assert first.json()["read_at"] is not None
    assert second.json()["read_at"] == first.json()["read_at"]


def test_another_learners_notification_is_404(learner, other_learner):
    theirs = notification_welcome(user=other_learner)

    response = client_for(learner).post(f"/api/notifications/{theirs.pk}/read/")

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


@pytest.mark.parametrize("pk", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_unknown_ids_are_404(learner_client, pk):
    assert learner_client.post(f"/api/notifications/{pk}/read/").status_code == 404


def test_anonymous_is_401(api_client):
    assert api_client.get("/api/notifications/").status_code == 401
