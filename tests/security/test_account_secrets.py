"""Secrets meant for the mailbox never show in the app, and the reset endpoint tells nothing.

Attack (issue 15, item 2): with only a learner's access token, ask for a password reset, read
the reset link back from GET /api/notifications/, and take the account over.
"""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lms.users.models import User
from notifications.models import Notification
from tests.conftest import client_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LINK = re.compile(r"https?://\S+/(reset-password|verify-email)\?\S+")


@pytest.fixture
def victim(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return UserFactory(email="victim@example.com", full_name="Vic Tim", is_verified=False)


def _everything_stored(user: User) -> str:
    """Every text column of every notification row of `user`: what the API, the admin and the
    monthly archive can ever show."""
    rows = Notification.objects.filter(user=user).values_list("subject", "body", "body_html", "dedupe_key")
    return "\n".join("\n".join(row) for row in rows)


def test_a_stolen_access_token_cannot_read_a_reset_link_from_the_feed(
    victim, api_client, mailoutbox, django_capture_on_commit_callbacks
):
    # given an attacker holding only the victim's access token
    attacker = client_for(victim)

    # when they ask for a reset of the victim's password and read the in-app feed
    with django_capture_on_commit_callbacks(execute=True):
        assert attacker.post("/api/auth/password-reset/", {"email": victim.email}, format="json").status_code == 202
    feed = attacker.get("/api/notifications/").json()["results"]

    # then the feed says a reset was requested, without any link, uid or token
    reset = [item for item in feed if item["kind"] == "password_reset"]
    assert len(reset) == 1
    assert "password reset was requested" in reset[0]["body"]
    assert not LINK.search(str(feed)), feed
    assert "token=" not in str(feed) and "uid=" not in str(feed)
    assert not LINK.search(_everything_stored(victim))
    # and the e-mail itself carries a working link
    [email] = [m for m in mailoutbox if "reset" in m.subject.lower()]
    match = re.search(r"/reset-password\?uid=([^&\s]+)&token=(\S+)", email.body)
    assert match, email.body
    html = email.alternatives[0][0]
    assert f"token={match.group(2)}" in html.replace("&amp;", "&")
    confirm = {"uid": match.group(1), "token": match.group(2), "new_password": "a-brand-new-passw0rd"}
    assert api_client.post("/api/auth/password-reset/confirm/", confirm, format="json").status_code == 200


def test_the_verification_link_is_e_mailed_but_never_stored(
    api_client, mailoutbox, django_capture_on_commit_callbacks, settings
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    body = {"email": "new@example.com", "password": "a-long-passw0rd!", "full_name": "New Person"}

    # when someone registers (welcome and verification e-mails are sent)
    with django_capture_on_commit_callbacks(execute=True):
        assert api_client.post("/api/auth/register/", body, format="json").status_code == 201
    user = User.objects.get(email="new@example.com")

    # then the feed and the stored rows hold no verification link, the e-mail does
    feed = client_for(user).get("/api/notifications/").json()["results"]
    assert {item["kind"] for item in feed} >= {"verify_email"}
    assert not LINK.search(str(feed)) and not LINK.search(_everything_stored(user))
    [email] = [m for m in mailoutbox if "/verify-email?token=" in m.body]
    token = re.search(r"/verify-email\?token=(\S+)", email.body).group(1)
    assert api_client.post("/api/auth/verify-email/", {"token": token}, format="json").json() == {"is_verified": True}


def test_reset_e_mails_are_capped_per_account_per_hour_whatever_the_client(
    victim, mailoutbox, django_capture_on_commit_callbacks, settings
):
    # given the cap, and requests from as many client addresses as the attacker likes
    settings.PASSWORD_RESET_EMAILS_PER_HOUR = 3
    clients = [client_for(None) for _ in range(6)]
    for number, client in enumerate(clients):
        client.defaults["REMOTE_ADDR"] = f"10.0.0.{number + 1}"

    # when each asks for a reset of the same account
    with django_capture_on_commit_callbacks(execute=True):
        answers = [c.post("/api/auth/password-reset/", {"email": victim.email}, format="json") for c in clients]

    # then every request is answered alike, but the mailbox receives only the cap
    assert {a.status_code for a in answers} == {202}
    assert len([m for m in mailoutbox if m.to == [victim.email] and "reset" in m.subject.lower()]) == 3


def test_the_reset_request_does_the_same_work_for_known_and_unknown_addresses(victim, api_client):
    # given one address with an account and one without
    def queries_for(address: str) -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            response = api_client.post("/api/auth/password-reset/", {"email": address}, format="json")
        assert response.status_code == 202
        return [query["sql"] for query in captured.captured_queries]

    # when a reset is asked for each (the job is queued, not run: the request path alone)
    known, unknown = queries_for(victim.email), queries_for("nobody@example.com")

    # then the request path runs the same statements, and none reads the accounts table
    shape = re.compile(r"'[^']*'|\b\d+\b")
    assert [shape.sub("?", sql) for sql in known] == [shape.sub("?", sql) for sql in unknown]
    assert not [sql for sql in known if User._meta.db_table in sql]
