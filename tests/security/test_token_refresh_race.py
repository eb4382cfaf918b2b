"""Refresh rotation is single-use under concurrency (issue 15, item 5).

Attack: fire several refreshes of one refresh token at once; simplejwt alone lets all of them
succeed, giving the attacker a token chain of their own beside the owner's.
"""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tests.factories import UserFactory

CONCURRENT_REFRESHES = 6


@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_of_one_token_let_exactly_one_succeed(settings):
    # given one refresh token, and the throttle out of the way
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth": "1000/min"},
    }
    refresh = str(RefreshToken.for_user(UserFactory()))
    start = threading.Barrier(CONCURRENT_REFRESHES)
    answers: list[tuple[int, dict]] = []

    def refresh_once():
        try:
            start.wait()
            response = APIClient().post("/api/auth/token/refresh/", {"refresh": refresh}, format="json")
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()  # each thread had its own connection

    # when they all refresh at the same moment, each on its own database connection
    threads = [threading.Thread(target=refresh_once) for _ in range(CONCURRENT_REFRESHES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # then exactly one gets a new pair; the others are refused as with any used token
    codes = sorted(code for code, _ in answers)
    assert codes == [200] + [401] * (CONCURRENT_REFRESHES - 1), answers
    [winner] = [body for code, body in answers if code == 200]
    assert set(winner) == {"access", "refresh"}
    # and the new refresh token works, once
    client = APIClient()
    assert client.post("/api/auth/token/refresh/", {"refresh": winner["refresh"]}, format="json").status_code == 200
    assert client.post("/api/auth/token/refresh/", {"refresh": winner["refresh"]}, format="json").status_code == 401
