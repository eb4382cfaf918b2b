"""Names people choose cannot disguise themselves or carry links (issue 15, item 7).

Attacks: U+202E / U+200B stored in a name and shown raw on the public verification page (the
PDF stripped them); a 200-character full_name with "Confirm at http://evil.example..." put
verbatim into the welcome e-mail's subject and body; registration accepting any address.
"""

import pytest
from django.test import Client

from certificates.services import certificate_issue
from lms.text import display_text_clean, person_name_clean
from lms.users.models import User
from tests.certificates.helpers import completed_enrollment
from tests.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db

RLO, ZWSP, ZWJ, BOM = "\u202e", "\u200b", "\u200d", "\ufeff"
PASSWORD = "a-long-passw0rd!"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def register(api_client, **fields):
    body = {"email": "new@example.com", "password": PASSWORD, "full_name": "New Person", **fields}
    return api_client.post("/api/auth/register/", body, format="json")


def test_registration_removes_bidi_overrides_and_zero_width_characters(api_client):
    response = register(api_client, full_name=f"Ada{ZWSP} {RLO}ecalevoL{BOM}\tKing{ZWJ}")

    assert response.status_code == 201
    assert response.json()["full_name"] == "Ada ecalevoL King"
    assert User.objects.get(email="new@example.com").full_name == "Ada ecalevoL King"


@pytest.mark.parametrize(
    "name",
    [
        "Your account is locked. Confirm at http://evil.example/login",
        "Visit www.evil.example now",
        "Ada evil.example/reset",
        "x" * 151,
        f"{ZWSP}{RLO} ",
    ],
)
def test_registration_refuses_links_overlong_and_empty_names_with_a_400(api_client, name):
    response = register(api_client, full_name=name)

    assert response.status_code == 400
    assert "full_name" in response.json()
    assert not User.objects.filter(email="new@example.com").exists()


@pytest.mark.parametrize("email", ["not-an-address", "a@b", "ada@example..com", "<a@example.com>"])
def test_registration_refuses_invalid_addresses(api_client, email):
    assert register(api_client, email=email).status_code == 400


def test_real_names_pass_unchanged():
    for name in ("J. R. R. Tolkien", "Zoë Ångström-Núñez", "李小龙", "Mary-Jane O'Neil", "محمد"):
        assert person_name_clean(name) == name


def test_the_admin_cleans_and_refuses_names_the_same_way():
    client = Client()
    client.force_login(StaffFactory(is_superuser=True))
    user = UserFactory(full_name="Plain Name")
    url = f"/admin/users/user/{user.pk}/change/"
    form = {
        "email": user.email,
        "is_verified": "on",
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "10:00:00",
    }

    refused = client.post(url, {**form, "full_name": "Confirm at http://evil.example"})
    assert refused.status_code == 200 and "cannot contain a web address" in refused.content.decode()

    saved = client.post(url, {**form, "full_name": f"Ada{RLO} Lovelace{ZWSP}"})
    assert saved.status_code == 302, saved.content.decode()[:2000]
    user.refresh_from_db()
    assert user.full_name == "Ada Lovelace"


def test_the_verification_page_shows_a_stored_name_without_invisible_characters():
    # given a certificate whose snapshot of the name predates cleaning at the door
    enrollment = completed_enrollment(learner=UserFactory(full_name="Ada Lovelace"))
    certificate = certificate_issue(enrollment_id=enrollment.pk).certificate
    type(certificate).objects.filter(pk=certificate.pk).update(learner_name=f"Ada {RLO}ecalevoL{ZWSP}")

    page = Client().get(f"/certificates/verify/{certificate.certificate_number}/").content.decode()
    api = Client().get(f"/api/certificates/verify/{certificate.certificate_number}/").json()

    assert RLO not in page and ZWSP not in page and "Ada ecalevoL" in page
    assert api["learner_name"] == "Ada ecalevoL"


@pytest.mark.parametrize(
    "name", [f"Ada {RLO}ecalevoL{ZWSP}", f"{BOM}King{ZWJ}", "\u0646\u06cc\u06a9\u200c\u0646\u0627\u0645"]
)
def test_the_pdf_and_the_api_clean_names_the_same_way(name):
    from certificates.typesetting import clean_text

    assert clean_text(name) == display_text_clean(name)


def test_a_long_name_is_truncated_in_the_welcome_subject(api_client, mailoutbox, django_capture_on_commit_callbacks):
    name = "Bartholomew Maximilian Alexander Fitzgerald-Worthington the Third of Somewhere"
    with django_capture_on_commit_callbacks(execute=True):
        assert register(api_client, full_name=name).status_code == 201

    [welcome] = [m for m in mailoutbox if m.subject.startswith("Welcome")]
    assert len(welcome.subject) <= len("Welcome to LMS, ") + 40
    assert welcome.subject.endswith("…")
