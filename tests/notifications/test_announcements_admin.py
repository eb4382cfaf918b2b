"""The announcements admin: create (send now or schedule), edit while scheduled, pause, resume,
cancel as actions, and the progress bar."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.announcements import services
from notifications.models import Announcement
from tests.notifications.announcement_data import audience

pytestmark = pytest.mark.django_db

ADMIN = "/admin/notifications/announcement/"


@pytest.fixture
def admin_client(client, staff):
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    return client


def test_admin_creates_and_sends_an_announcement_and_shows_its_progress(
    admin_client, smtp_server, django_capture_on_commit_callbacks
):
    world = audience()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"{ADMIN}add/",
            {"course": world.course.pk, "subject": "Exam moved", "body": "Friday.", "audience": "all", "send_at": ""},
        )

    assert response.status_code == 302, response.content.decode()[-2000:]
    announcement = Announcement.objects.get()
    assert announcement.status == "sent" and smtp_server.count() == 5
    page = admin_client.get(ADMIN).content.decode()
    assert '<progress value="5" max="5"' in page and "5 / 5 sent" in page


def test_admin_schedules_edits_and_cancels(admin_client):
    world = audience()
    send_at = (timezone.now() + timedelta(hours=1)).replace(microsecond=0)

    admin_client.post(
        f"{ADMIN}add/",
        {"course": world.course.pk, "subject": "Later", "body": "b", "audience": "all",
         "send_at_0": send_at.strftime("%Y-%m-%d"), "send_at_1": send_at.strftime("%H:%M:%S")},
    )  # fmt: skip
    announcement = Announcement.objects.get()
    assert announcement.status == "scheduled"

    edited = admin_client.post(
        f"{ADMIN}{announcement.pk}/change/",
        {"subject": "Later, edited", "body": "b2", "audience": "active",
         "send_at_0": send_at.strftime("%Y-%m-%d"), "send_at_1": send_at.strftime("%H:%M:%S")},
    )  # fmt: skip
    assert edited.status_code == 302
    announcement.refresh_from_db()
    assert (announcement.subject, announcement.audience) == ("Later, edited", "active")

    admin_client.post(ADMIN, {"action": "cancel", "_selected_action": [announcement.pk]})
    assert Announcement.objects.get(pk=announcement.pk).status == "cancelled"


def test_admin_pause_and_resume_actions_change_the_status_and_refuse_what_is_not_allowed(admin_client):
    world = audience()
    announcement = services.announcement_create(course=world.course, subject="s", body="b")

    admin_client.post(ADMIN, {"action": "pause", "_selected_action": [announcement.pk]})
    assert Announcement.objects.get(pk=announcement.pk).status == "paused"
    response = admin_client.post(ADMIN, {"action": "pause", "_selected_action": [announcement.pk]}, follow=True)
    assert "cannot be paused" in response.content.decode()
    admin_client.post(ADMIN, {"action": "resume", "_selected_action": [announcement.pk]})
    assert Announcement.objects.get(pk=announcement.pk).status == "sending"


def test_admin_form_refuses_a_send_at_in_the_past_and_creates_nothing(admin_client):
    world = audience()
    past = timezone.now() - timedelta(hours=1)

    response = admin_client.post(
        f"{ADMIN}add/",
        {"course": world.course.pk, "subject": "Late", "body": "b", "audience": "all",
         "send_at_0": past.strftime("%Y-%m-%d"), "send_at_1": past.strftime("%H:%M:%S")},
    )  # fmt: skip

    assert response.status_code == 200
    assert "send_at must be in the future" in response.content.decode()
    assert not Announcement.objects.exists()
