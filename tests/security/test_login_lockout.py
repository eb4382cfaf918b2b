"""Admin (and API) logins lock out after repeated failures (issue 15, item 3).

Attack: 40 wrong passwords for a staff account from one address, all answered, then the right
one logs in. With django-axes, the pair (account, address) is locked after LOGIN_FAILURE_LIMIT
failures, the right password included, until staff unlock it in admin.
"""

import pytest
from axes.models import AccessAttempt
from django.test import Client

from tests.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "the-right-passw0rd"
ATTEMPTS = 40


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AXES_FAILURE_LIMIT = 5


@pytest.fixture
def target():
    return StaffFactory(email="ops@example.com", password=PASSWORD, is_superuser=True)


def admin_login(client: Client, password: str, username: str = "ops@example.com"):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password})


def test_admin_login_is_locked_after_repeated_failures_even_for_the_right_password(target):
    client = Client()

    # when an attacker tries many wrong passwords from one address
    codes = [admin_login(client, f"wrong-{n}").status_code for n in range(ATTEMPTS)]

    # then the first ones are answered as wrong (the form again), the rest are refused
    assert codes[:4] == [200] * 4
    assert set(codes[5:]) == {429}
    # and the right password does not get in either
    response = admin_login(client, PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_staff_unlock_in_admin_lets_the_right_password_in_again(target):
    # given the account locked out from this address
    client = Client()
    for n in range(6):
        admin_login(client, f"wrong-{n}")
    assert admin_login(client, PASSWORD).status_code == 429

    # when another staff member deletes the access attempt in admin (the unlock path)
    unlocker = Client()
    unlocker.force_login(StaffFactory(is_superuser=True))
    attempt = AccessAttempt.objects.get(username="ops@example.com")
    page = unlocker.get(f"/admin/axes/accessattempt/{attempt.pk}/delete/")
    assert page.status_code == 200
    unlocker.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})

    # then the right password logs in
    assert not AccessAttempt.objects.exists()
    response = admin_login(client, PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_the_lockout_counts_the_account_whatever_its_case_and_only_from_that_address(target):
    attacker, owner = Client(), Client(REMOTE_ADDR="10.1.2.3")
    for n in range(6):
        admin_login(attacker, f"wrong-{n}", username="OPS@example.com")

    assert admin_login(attacker, PASSWORD).status_code == 429
    # the owner at another address is not locked out by the attacker
    assert admin_login(owner, PASSWORD).status_code == 302


def test_the_api_token_endpoint_still_works_and_locks_out_the_same_way(api_client, settings):
    # given a learner, and the per-address API throttle out of the way
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth": "1000/min"},
    }
    UserFactory(email="ada@example.com", password=PASSWORD)

    def token(password):
        return api_client.post("/api/auth/token/", {"email": "ada@example.com", "password": password}, format="json")

    # the right password gets a pair (axes' backend receives the request simplejwt passes)
    assert set(token(PASSWORD).json()) == {"access", "refresh"}
    # after the limit of wrong ones, even the right one is refused, with the contract's 401
    answers = [token(f"wrong-{n}").status_code for n in range(6)]
    assert set(answers) == {401}
    locked = token(PASSWORD)
    assert locked.status_code == 401
    assert "access" not in locked.json()
