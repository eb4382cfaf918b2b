"""Reads about accounts: what a clean-up would delete, who receives staff reports."""

from datetime import datetime, timedelta

from django.db.models import QuerySet
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from lms.users.models import User


def outstanding_tokens_expired(*, now: datetime) -> QuerySet[OutstandingToken]:
    """Refresh tokens past their expiry: nobody can use them any more."""
    return OutstandingToken.objects.filter(expires_at__lte=now)


def blacklisted_tokens_expired(*, now: datetime) -> QuerySet[BlacklistedToken]:
    return BlacklistedToken.objects.filter(token__expires_at__lte=now)


def users_unverified_stale(*, now: datetime, max_days: int) -> QuerySet[User]:
    """Accounts unverified `max_days` or more after joining. Never staff or superusers."""
    return User.objects.filter(
        is_verified=False,
        is_staff=False,
        is_superuser=False,
        date_joined__lte=now - timedelta(days=max_days),
    )


def users_staff_active() -> QuerySet[User]:
    """Active staff accounts: the recipients of staff reports."""
    return User.objects.filter(is_active=True, is_staff=True)


def login_attempt_username(request, credentials: dict | None) -> str | None:
    """The account a login attempt names, for django-axes (AXES_USERNAME_CALLABLE): Django's
    admin form passes `username`, the API's token serializer `email`; lower-cased like the
    stored addresses, so "Ada@x" and "ada@x" count as the same account."""
    credentials = credentials or {}
    name = credentials.get("username") or credentials.get("email")
    if name is None:
        data = getattr(request, "data", None)  # a DRF request; a JSON body may not be an object
        if not hasattr(data, "get"):
            data = getattr(request, "POST", {})
        name = data.get("username") or data.get("email")
    return str(name).strip().lower() if name else None
