"""Production refuses a low-entropy SECRET_KEY (issue 15, item 7): it accepted a 55-character key
of 6 distinct characters. The rules are Django's own (security.W009: length, prefix, distinct
characters, thresholds read from Django), made a refusal to start, with a distinct-character
floor above Django's bare 5."""

import secrets

import pytest
from django.core.checks.security.base import SECRET_KEY_INSECURE_PREFIX, SECRET_KEY_MIN_LENGTH

from tests.test_settings import run_python


def start_production(secret_key: str):
    return run_python("import django; django.setup()", {"SECRET_KEY": secret_key}, "lms.settings_production")


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("abcdef" * 9 + "a", "6 distinct characters"),  # the 55 characters of 6
        (secrets.token_urlsafe(64)[: SECRET_KEY_MIN_LENGTH - 1], "fewer than 50"),
        (SECRET_KEY_INSECURE_PREFIX + secrets.token_urlsafe(64), "development key"),
    ],
)
def test_production_refuses_to_start_with_a_weak_key(key, reason):
    result = start_production(key)

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
    assert reason in result.stderr


@pytest.mark.parametrize("key", [secrets.token_urlsafe(64), secrets.token_hex(32)])
def test_production_starts_with_a_generated_key(key):
    result = start_production(key)

    assert result.returncode == 0, result.stderr
