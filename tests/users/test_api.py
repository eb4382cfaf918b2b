"""Accounts API: every status code of the contract."""

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from lms.users import services
from lms.users.models import User
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.test_settings import run_python

pytestmark = pytest.mark.django_db

STRONG = "correct-horse-battery-9"


def post(client, path, data):
    return client.post(path, data, format="json")


# --- register -------------------------------------------------------------------------------


def test_register_returns_201_with_the_public_fields(api_client, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            api_client, "/api/auth/register/", {"email": "ada@example.com", "password": STRONG, "full_name": "Ada"}
        )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "email", "full_name", "is_verified"}
    assert body["email"] == "ada@example.com"
    assert body["is_verified"] is False
    # inline mode: the welcome and verification e-mails went out after commit
    assert sorted(m.subject for m in mailoutbox) == ["Confirm your e-mail address", "Welcome to LMS, Ada"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "ada@example.com", "password": "123", "full_name": "Ada"}, "password"),
        ({"email": "not-an-email", "password": STRONG, "full_name": "Ada"}, "email"),
        ({"email": "ada@example.com", "password": STRONG}, "full_name"),
        ({"password": STRONG, "full_name": "Ada"}, "email"),
    ],
)
def test_register_rejects_bad_input_with_400_and_creates_nothing(api_client, payload, field):
    response = post(api_client, "/api/auth/register/", payload)

    assert response.status_code == 400
    assert field in response.json()
    assert not User.objects.exists()


def test_register_rejects_a_taken_email_with_400(api_client):
    UserFactory(email="ada@example.com")

    response = post(
        api_client, "/api/auth/register/", {"email": "ADA@example.com", "password": STRONG, "full_name": "Ada"}
    )

    assert response.status_code == 400
    assert "email" in response.json()
    assert User.objects.count() == 1


def test_register_rejects_non_json_body_with_4xx(api_client):
    response = api_client.post("/api/auth/register/", "email=a", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415


# --- tokens ---------------------------------------------------------------------------------


def test_token_returns_access_and_refresh_for_right_credentials(api_client, learner):
    response = post(api_client, "/api/auth/token/", {"email": learner.email, "password": DEFAULT_PASSWORD})

    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}


def test_token_is_401_for_a_wrong_password(api_client, learner):
    response = post(api_client, "/api/auth/token/", {"email": learner.email, "password": "wrong-password-1"})

    assert response.status_code == 401
    assert "detail" in response.json()


def test_token_is_400_without_credentials(api_client):
    assert post(api_client, "/api/auth/token/", {}).status_code == 400


def _tokens(client, user):
    return post(client, "/api/auth/token/", {"email": user.email, "password": DEFAULT_PASSWORD}).json()


def test_refresh_rotates_and_blacklists_the_old_refresh_token(api_client, learner):
    old = _tokens(api_client, learner)["refresh"]

    response = post(api_client, "/api/auth/token/refresh/", {"refresh": old})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh"}
    assert body["refresh"] != old
    assert post(api_client, "/api/auth/token/refresh/", {"refresh": old}).status_code == 401
    assert post(api_client, "/api/auth/token/refresh/", {"refresh": body["refresh"]}).status_code == 200


def test_refresh_is_401_for_garbage(api_client):
    assert post(api_client, "/api/auth/token/refresh/", {"refresh": "not-a-token"}).status_code == 401


def test_logout_returns_205_and_the_refresh_token_no_longer_works(api_client, learner):
    refresh = _tokens(api_client, learner)["refresh"]

    response = post(api_client, "/api/auth/logout/", {"refresh": refresh})

    assert response.status_code == 205
    assert post(api_client, "/api/auth/token/refresh/", {"refresh": refresh}).status_code == 401
    assert post(api_client, "/api/auth/logout/", {"refresh": refresh}).status_code == 400


@pytest.mark.parametrize("payload", [{}, {"refresh": "garbage"}])
def test_logout_is_400_for_a_missing_or_invalid_token(api_client, payload):
    response = post(api_client, "/api/auth/logout/", payload)

    assert response.status_code == 400
    assert "refresh" in response.json()


# --- me -------------------------------------------------------------------------------------


def test_me_with_a_bearer_token_returns_the_profile(api_client, learner):
    access = _tokens(api_client, learner)["access"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")

    response = api_client.get("/api/me/")

    assert response.status_code == 200
    assert response.json() == {
        "id": str(learner.pk),
        "email": learner.email,
        "full_name": learner.full_name,
        "is_verified": True,
        "date_joined": learner.date_joined.isoformat().replace("+00:00", "Z"),
    }


@pytest.mark.parametrize("header", [None, "Bearer not-a-jwt"])
def test_me_is_401_without_a_valid_token(api_client, header):
    if header:
        api_client.credentials(HTTP_AUTHORIZATION=header)
    assert api_client.get("/api/me/").status_code == 401


# --- verify e-mail --------------------------------------------------------------------------


def test_verify_email_returns_200_and_verifies(api_client):
    user = UserFactory(is_verified=False)
    token = services.email_verification_token_make(user=user)

    response = post(api_client, "/api/auth/verify-email/", {"token": token})

    assert response.status_code == 200
    assert response.json() == {"is_verified": True}
    user.refresh_from_db()
    assert user.is_verified


@pytest.mark.parametrize("payload", [{"token": "bogus"}, {}])
def test_verify_email_is_400_for_a_bad_token(api_client, payload):
    response = post(api_client, "/api/auth/verify-email/", payload)

    assert response.status_code == 400
    assert "token" in response.json()


# --- password reset -------------------------------------------------------------------------


def test_password_reset_answers_202_identically_for_known_and_unknown_addresses(
    api_client, learner, mailoutbox, django_capture_on_commit_callbacks
):
    # given an active account, an inactive one and an address without any
    mailoutbox.clear()
    inactive = UserFactory(is_active=False)

    # when a reset is asked for each
    with django_capture_on_commit_callbacks(execute=True):
        answers = [
            post(api_client, "/api/auth/password-reset/", {"email": address})
            for address in (learner.email, inactive.email, "nobody@example.com")
        ]

    # then the three answers are byte for byte the same, headers included (but the date), so
    # nothing tells an attacker which addresses have accounts; only the active one gets mail
    assert {a.status_code for a in answers} == {202}
    assert len({a.content for a in answers}) == 1
    headers = [{k: v for k, v in a.headers.items() if k != "Date"} for a in answers]
    assert headers[0] == headers[1] == headers[2]
    assert [m.to for m in mailoutbox] == [[learner.email]]


def test_password_reset_is_400_for_an_invalid_address(api_client):
    assert post(api_client, "/api/auth/password-reset/", {"email": "nope"}).status_code == 400


def test_password_reset_confirm_returns_200_then_400_on_reuse(api_client, learner):
    link = services.password_reset_link(user=learner)
    params = dict(part.split("=", 1) for part in link.split("?", 1)[1].split("&"))
    payload = {"uid": params["uid"], "token": params["token"], "new_password": "a-brand-new-passw0rd"}

    first = post(api_client, "/api/auth/password-reset/confirm/", payload)
    second = post(api_client, "/api/auth/password-reset/confirm/", payload)

    assert first.status_code == 200
    assert second.status_code == 400
    assert "token" in second.json()
    tokens = post(api_client, "/api/auth/token/", {"email": learner.email, "password": "a-brand-new-passw0rd"})
    assert tokens.status_code == 200


def test_password_reset_confirm_is_400_for_missing_fields(api_client):
    response = post(api_client, "/api/auth/password-reset/confirm/", {"uid": "x"})

    assert response.status_code == 400
    assert {"token", "new_password"} <= set(response.json())


def _reset_params(user) -> dict:
    link = services.password_reset_link(user=user)
    return dict(part.split("=", 1) for part in link.split("?", 1)[1].split("&"))


def test_password_reset_confirm_is_400_once_the_link_expired(api_client, learner, settings):
    # given a reset link and PASSWORD_RESET_TIMEOUT of a minute
    settings.PASSWORD_RESET_TIMEOUT = 60
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        params = _reset_params(learner)

        # when it is used two minutes later
        traveller.shift(120)
        response = post(api_client, "/api/auth/password-reset/confirm/", {**params, "new_password": "a-new-passw0rd-1"})

    # then it is refused and the password is unchanged
    assert response.status_code == 400
    assert "token" in response.json()
    learner.refresh_from_db()
    assert learner.check_password(DEFAULT_PASSWORD)


def test_password_reset_confirm_using_one_link_kills_every_other_outstanding_link(api_client, learner):
    # given two different reset links sent to the same learner, a few seconds apart
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        first = _reset_params(learner)
        traveller.shift(5)
        second = _reset_params(learner)
    assert first["token"] != second["token"]

    # when the first is used
    used = post(api_client, "/api/auth/password-reset/confirm/", {**first, "new_password": "a-new-passw0rd-1"})
    other = post(api_client, "/api/auth/password-reset/confirm/", {**second, "new_password": "a-new-passw0rd-2"})

    # then the second no longer works: a token is bound to the password it replaces
    assert used.status_code == 200
    assert other.status_code == 400
    learner.refresh_from_db()
    assert learner.check_password("a-new-passw0rd-1")


# --- throttling -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/api/auth/token/", {"email": "a@example.com", "password": "x"}),
        ("/api/auth/register/", {"email": "bad"}),
        ("/api/auth/password-reset/", {"email": "a@example.com"}),
        ("/api/auth/password-reset/confirm/", {}),
        ("/api/auth/verify-email/", {}),
        ("/api/auth/token/refresh/", {"refresh": "x"}),
        ("/api/auth/logout/", {}),
    ],
)
def test_auth_endpoints_answer_429_past_the_rate_per_client_address(settings, path, payload):
    # the rate is read from the settings on each request, so overriding them is enough
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**rates, "auth": "3/min"}}
    client = APIClient(REMOTE_ADDR="10.0.0.1")

    codes = [post(client, path, payload).status_code for _ in range(4)]

    assert 429 not in codes[:3]
    assert codes[3] == 429
    # another client address is not affected, and a forged X-Forwarded-For does not reset it
    assert post(APIClient(REMOTE_ADDR="10.0.0.2"), path, payload).status_code != 429
    assert post(APIClient(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4"), path, payload).status_code == 429


def test_auth_throttle_rate_comes_from_the_auth_throttle_rate_environment_variable():
    # given a process started with AUTH_THROTTLE_RATE=2/min (and nothing else configured)
    code = (
        "import django; django.setup(); from django.test import Client; c = Client(REMOTE_ADDR='10.0.0.9'); "
        "print([c.post('/api/auth/password-reset/', {'email': 'x'}, content_type='application/json').status_code "
        "for _ in range(3)])"
    )

    # when one client calls an auth endpoint three times
    result = run_python(code, {"AUTH_THROTTLE_RATE": "2/min"})

    # then the third is throttled
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[400, 400, 429]"
