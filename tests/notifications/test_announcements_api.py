"""The announcements, preferences and unsubscribe contract (API.md): status codes, shapes, and
that refused input changes nothing."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from notifications.announcements import services
from notifications.announcements.preferences import unsubscribe_token
from notifications.models import Announcement, AnnouncementRecipient, NotificationPreference
from tests.notifications.announcement_data import audience

pytestmark = pytest.mark.django_db

FIELDS = {
    "id", "course", "subject", "body", "audience", "status", "send_at", "created_at", "started_at", "finished_at",
    "recipients_total", "sent_count", "failed_count", "skipped_count",
}  # fmt: skip


@pytest.fixture
def world():
    return audience()


def url(world) -> str:
    return f"/api/courses/{world.course.pk}/announcements/"


def test_staff_post_sends_to_the_course_and_answers_201(
    world, staff_client, smtp_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(url(world), {"subject": "Exam moved", "body": "Friday."}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == FIELDS
    assert (body["status"], body["audience"], body["course"]) == (
        "sending", "all", {"id": str(world.course.pk), "title": world.course.title},
    )  # fmt: skip
    assert smtp_server.count() == 5
    detail = staff_client.get(f"/api/announcements/{body['id']}/").json()
    assert (detail["status"], detail["recipients_total"], detail["sent_count"], detail["skipped_count"]) == (
        "sent", 5, 5, 1,
    )  # fmt: skip


def test_staff_post_with_a_future_send_at_is_scheduled(world, staff_client, smtp_server):
    send_at = timezone.now() + timedelta(hours=1)

    response = staff_client.post(
        url(world), {"subject": "s", "body": "b", "audience": "active", "send_at": send_at.isoformat()}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["status"] == "scheduled" and response.json()["audience"] == "active"
    assert smtp_server.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject": "", "body": "b"}, "subject"),
        ({"subject": "   ", "body": "b"}, "subject"),
        ({"body": "b"}, "subject"),
        ({"subject": "s", "body": ""}, "body"),
        ({"subject": "s", "body": "b", "audience": "dropped"}, "audience"),
        ({"subject": "s", "body": "b", "send_at": "2001-01-01T00:00:00Z"}, "send_at"),
        ({"subject": "s", "body": "b", "send_at": "tomorrow"}, "send_at"),
        ({"subject": "s", "body": "x" * (services.BODY_MAX_CHARS + 1)}, "body"),
        ({"subject": "s" * 256, "body": "b"}, "subject"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_creates_nothing(world, staff_client, body, field):
    response = staff_client.post(url(world), body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Announcement.objects.exists()


def test_a_10_mb_body_is_refused_with_a_4xx_and_creates_nothing(world, staff_client):
    payload = json.dumps({"subject": "s", "body": "x" * (10 * 1024 * 1024)})

    response = staff_client.generic("POST", url(world), payload, content_type="application/json")

    assert response.status_code in (400, 413)
    assert "detail" in response.json()
    assert not Announcement.objects.exists()


def test_learner_posting_is_403_anonymous_401_unknown_course_404(world, learner_client, api_client, staff_client):
    assert learner_client.post(url(world), {"subject": "s", "body": "b"}, format="json").status_code == 403
    assert learner_client.get(url(world)).status_code == 403
    assert api_client.post(url(world), {"subject": "s", "body": "b"}, format="json").status_code == 401
    unknown = "/api/courses/00000000-0000-4000-8000-000000000000/announcements/"
    assert staff_client.post(unknown, {"subject": "s", "body": "b"}, format="json").status_code == 404
    assert not Announcement.objects.exists()


def test_list_shows_the_courses_announcements_newest_first(world, staff_client):
    first = services.announcement_create(course=world.course, subject="first", body="b")
    second = services.announcement_create(course=world.course, subject="second", body="b")
    services.announcement_create(course=audience(prefix="x").course, subject="elsewhere", body="b")

    response = staff_client.get(url(world))

    assert response.status_code == 200
    assert [a["id"] for a in response.json()["results"]] == [str(second.pk), str(first.pk)]


def test_pause_resume_cancel_answer_200_or_409(world, staff_client, learner_client):
    announcement = services.announcement_create(course=world.course, subject="s", body="b")
    base = f"/api/announcements/{announcement.pk}"

    assert learner_client.post(f"{base}/pause/").status_code == 403
    assert staff_client.post(f"{base}/resume/").status_code == 409
    paused = staff_client.post(f"{base}/pause/")
    assert (paused.status_code, paused.json()["status"]) == (200, "paused")
    assert staff_client.post(f"{base}/pause/").status_code == 409
    assert staff_client.post(f"{base}/resume/").json()["status"] == "sending"
    cancelled = staff_client.post(f"{base}/cancel/")
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    assert cancelled.json()["finished_at"] is not None
    assert staff_client.post(f"{base}/resume/").status_code == 409
    assert staff_client.get("/api/announcements/00000000-0000-4000-8000-000000000000/").status_code == 404


# --- Preferences ----------------------------------------------------------------------------


def test_preferences_default_on_and_patch_stores_a_boolean(learner, learner_client):
    assert learner_client.get("/api/me/preferences/").json() == {"course_announcements": True}

    response = learner_client.patch("/api/me/preferences/", {"course_announcements": False}, format="json")

    assert (response.status_code, response.json()) == (200, {"course_announcements": False})
    assert learner_client.get("/api/me/preferences/").json() == {"course_announcements": False}


@pytest.mark.parametrize("value", ["no", "false", 0, None, [], {"x": 1}])
def test_preferences_patch_refuses_what_is_not_a_boolean(learner, learner_client, value):
    response = learner_client.patch("/api/me/preferences/", {"course_announcements": value}, format="json")

    assert response.status_code == 400 and "course_announcements" in response.json()
    assert not NotificationPreference.objects.exists()


def test_preferences_need_authentication(api_client):
    assert api_client.get("/api/me/preferences/").status_code == 401
    assert api_client.patch("/api/me/preferences/", {"course_announcements": False}, format="json").status_code == 401


# --- The unsubscribe page -------------------------------------------------------------------


def opted_in(user) -> bool:
    preference = NotificationPreference.objects.filter(user=user).first()
    return preference is None or preference.course_announcements


def test_unsubscribe_get_shows_a_button_and_changes_nothing(learner):
    response = Client().get(f"/unsubscribe/{unsubscribe_token(user_id=learner.pk)}/")

    assert response.status_code == 200
    assert b'<form method="post"' in response.content and learner.email.encode() in response.content
    assert opted_in(learner)


def test_unsubscribe_one_click_post_without_csrf_or_login_opts_out(learner):
    client = Client(enforce_csrf_checks=True)

    response = client.post(
        f"/unsubscribe/{unsubscribe_token(user_id=learner.pk)}/",
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200 and b"Unsubscribed" in response.content
    assert not opted_in(learner)
    # a second POST (the learner clicking after the provider did) is fine too
    assert client.post(f"/unsubscribe/{unsubscribe_token(user_id=learner.pk)}/").status_code == 200


def test_unsubscribe_with_a_tampered_token_is_a_400_page_and_changes_nothing(learner, other_learner):
    token = unsubscribe_token(user_id=learner.pk)
    forged = f"{other_learner.pk}:{token.split(':', 1)[1]}"

    for bad in (forged, token[:-2] + "xx", "nonsense"):
        assert Client().get(f"/unsubscribe/{bad}/").status_code == 400
        response = Client().post(f"/unsubscribe/{bad}/", "List-Unsubscribe=One-Click",
                                 content_type="application/x-www-form-urlencoded")  # fmt: skip
        assert response.status_code == 400 and b"Invalid link" in response.content
    assert opted_in(learner) and opted_in(other_learner)


def test_an_unsubscribed_learner_is_skipped_by_the_next_announcement(
    world, smtp_server, django_capture_on_commit_callbacks
):
    learner = world.active[0]
    Client().post(f"/unsubscribe/{unsubscribe_token(user_id=learner.pk)}/")

    with django_capture_on_commit_callbacks(execute=True):
        services.announcement_create(course=world.course, subject="s", body="b")

    assert learner.email not in {m["To"] for m in smtp_server.messages}
    assert AnnouncementRecipient.objects.get(user=learner).status == "skipped"
