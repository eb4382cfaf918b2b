"""Production settings: the base settings plus hardening, and a refusal to start unsafely.

Select with DJANGO_SETTINGS_MODULE=lms.settings_production (docker-compose.yml does).
"""

from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)
from django.core.exceptions import ImproperlyConfigured

from lms.settings import *  # noqa: F403
from lms.settings import INSECURE_DEV_SECRET_KEY, SECRET_KEY, env

# Django's own check (security.W009, `check --deploy`) only warns; here the same rules refuse to
# start, with its thresholds read from Django itself: at least SECRET_KEY_MIN_LENGTH (50)
# characters, no "django-insecure-" prefix, and more distinct characters than its bare
# SECRET_KEY_MIN_UNIQUE_CHARACTERS (5): a 55-character key of 6 distinct characters passes
# Django's check yet is a pattern, not a secret. Every generator worth using clears
# SECRET_KEY_MIN_DISTINCT_CHARACTERS (token_hex: 16 distinct, token_urlsafe(64): ~50).
SECRET_KEY_MIN_DISTINCT_CHARACTERS = max(SECRET_KEY_MIN_UNIQUE_CHARACTERS, 10)


def secret_key_problem(key: str) -> str | None:
    """Why `key` cannot be a production SECRET_KEY, or None."""
    if key == INSECURE_DEV_SECRET_KEY or key.startswith(SECRET_KEY_INSECURE_PREFIX):
        return f"it is a development key (prefixed {SECRET_KEY_INSECURE_PREFIX!r})"
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return f"it has {len(key)} characters, fewer than {SECRET_KEY_MIN_LENGTH}"
    if len(set(key)) < SECRET_KEY_MIN_DISTINCT_CHARACTERS:
        return f"it has {len(set(key))} distinct characters, fewer than {SECRET_KEY_MIN_DISTINCT_CHARACTERS}"
    return None


if problem := secret_key_problem(SECRET_KEY):
    raise ImproperlyConfigured(
        f"SECRET_KEY must be set to a long random value in production: {problem}. "
        'Generate one with: python -c "import secrets; print(secrets.token_urlsafe(64))"'
    )

DEBUG = False
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=False)

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
