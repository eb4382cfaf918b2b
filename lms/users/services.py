"""Account use cases: registration, e-mail verification, password reset.

Invariants:
- e-mail addresses are stored lower-cased and are unique regardless of case;
- a verification token is signed and expires after EMAIL_VERIFICATION_MAX_AGE seconds;
- a password-reset token works once (Django's generator hashes the password it replaces) and
  expires after PASSWORD_RESET_TIMEOUT; asking for a reset never reveals whether the address
  has an account;
- resetting a password logs out every session: all outstanding refresh tokens are blacklisted;
- maintenance deletes only what nobody can use: expired refresh tokens (with their blacklist
  entries) and accounts unverified UNVERIFIED_USER_MAX_DAYS after joining, never staff or
  superusers; it works in committed batches, so a second run finds nothing left.
"""

import logging
import uuid
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from lms.errors import InvalidInput
from lms.jobs.dispatch import dispatch_on_commit
from lms.text import person_name_clean
from lms.users import selectors
from lms.users.models import User

logger = logging.getLogger(__name__)

VERIFY_EMAIL_SALT = "lms.users.verify-email"


def _check_password(password: str, *, user: User, field: str) -> None:
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), field=field) from exc


def user_register(*, email: str, password: str, full_name: str) -> User:
    # Checked here, not only by the API's serializer: every door (API, commands, pages) registers
    # through this service.
    try:
        validate_email(email)
    except ValidationError as exc:
        raise InvalidInput("Enter a valid e-mail address.", field="email") from exc
    try:
        full_name = person_name_clean(full_name)
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), field="full_name") from exc
    email = User.objects.normalize_email(email).lower()
    candidate = User(email=email, full_name=full_name)
    _check_password(password, user=candidate, field="password")
    if User.objects.filter(email__iexact=email).exists():
        raise InvalidInput("An account with this e-mail address already exists.", field="email")
    try:
        with transaction.atomic():
            return User.objects.create_user(email=email, password=password, full_name=full_name)
    except IntegrityError as exc:  # a concurrent registration won the race
        raise InvalidInput("An account with this e-mail address already exists.", field="email") from exc


def user_get(*, user_id: str) -> User | None:
    return User.objects.filter(pk=user_id).first()


# --- E-mail verification --------------------------------------------------------------------


def email_verification_token_make(*, user: User) -> str:
    return signing.dumps({"uid": str(user.pk), "email": user.email}, salt=VERIFY_EMAIL_SALT)


def email_verification_link(*, user: User) -> str:
    return f"{settings.FRONTEND_URL}/verify-email?token={email_verification_token_make(user=user)}"


def email_verification_user(*, token: str) -> User:
    """The account a verification token names, changing nothing (the page's GET shows it).

    Raises InvalidInput (field "token") when the token is bad, expired, or names an address the
    account no longer has.
    """
    try:
        payload = signing.loads(token, salt=VERIFY_EMAIL_SALT, max_age=settings.EMAIL_VERIFICATION_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise InvalidInput("This verification link has expired.", field="token") from exc
    except signing.BadSignature as exc:
        raise InvalidInput("This verification link is not valid.", field="token") from exc
    # The address is part of the token, so a link stops working if the address changes.
    user = User.objects.filter(pk=payload.get("uid"), email=payload.get("email"), is_active=True).first()
    if user is None:
        raise InvalidInput("This verification link is not valid.", field="token")
    return user


def user_verify_email(*, token: str) -> User:
    user = email_verification_user(token=token)
    if not user.is_verified:
        User.objects.filter(pk=user.pk).update(is_verified=True)
        user.is_verified = True
    return user


# --- Password reset -------------------------------------------------------------------------


def password_reset_link(*, user: User) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return f"{settings.FRONTEND_URL}/reset-password?uid={uid}&token={token}"


def password_reset_request(*, email: str) -> None:
    """Queue a reset job for this address, whether or not it has an account.

    The request path never looks the account up: the job does (notifications.services.
    notification_password_reset), so answering takes the same work, queries and time for a
    known and an unknown address, and an unknown one simply sends nothing.
    """
    from notifications.tasks import send_password_reset_email as send_password_reset_email_task

    # Each request is its own e-mail; a redelivered job for the same request is not.
    dispatch_on_commit(send_password_reset_email_task, email.strip().lower(), str(uuid.uuid4()))


def user_lock_active_by_email(*, email: str) -> User | None:
    """The active account with this address, row-locked until the transaction ends; or None."""
    return User.objects.select_for_update().filter(email__iexact=email.strip(), is_active=True).first()


def _user_from_uid(uid: str) -> User | None:
    try:
        pk = uuid.UUID(force_str(urlsafe_base64_decode(uid)))
    except (TypeError, ValueError, OverflowError, UnicodeDecodeError):
        return None
    return User.objects.filter(pk=pk, is_active=True).first()


def password_reset_user(*, uid: str, token: str) -> User:
    """The account a reset link names, changing nothing (the page's GET shows its form).

    Raises InvalidInput (field "token") when the link is malformed, expired or already used.
    """
    user = _user_from_uid(uid)
    if user is None or not default_token_generator.check_token(user, token):
        raise InvalidInput("This password reset link is invalid or has already been used.", field="token")
    return user


def password_reset_confirm(*, uid: str, token: str, new_password: str) -> User:
    user = password_reset_user(uid=uid, token=token)
    _check_password(new_password, user=user, field="new_password")
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        user_logout_everywhere(user=user)
    return user


def user_logout_everywhere(*, user: User) -> int:
    """Blacklist every refresh token the user still holds; returns how many."""
    outstanding = OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False)
    blacklisted = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
    return len(blacklisted)


# --- Maintenance (run by lms.users.tasks on beat's schedule, and by manage.py commands) -----

# Each batch is one short transaction: a clean-up never holds locks on many rows at once, and
# a run stopped by its time limit keeps every batch it finished. A thousand rows take a few
# milliseconds to delete.
CLEANUP_BATCH_SIZE = 1000


def token_cleanup_expired(
    *,
    now: datetime | None = None,
    batch_size: int = CLEANUP_BATCH_SIZE,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Delete expired refresh tokens and their blacklist entries. A second run deletes nothing."""
    now = now or timezone.now()
    summary = {"tokens_deleted": 0, "blacklist_entries_deleted": 0}
    while True:
        with transaction.atomic():
            ids = list(
                selectors.outstanding_tokens_expired(now=now).order_by("pk").values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                break
            blacklisted, _ = BlacklistedToken.objects.filter(token_id__in=ids).delete()
            tokens, _ = OutstandingToken.objects.filter(pk__in=ids).delete()
        summary["tokens_deleted"] += tokens
        summary["blacklist_entries_deleted"] += blacklisted
        if on_batch:
            on_batch(len(ids))
    logger.info(
        "Deleted %d expired refresh token(s) and %d blacklist entr(ies)",
        summary["tokens_deleted"],
        summary["blacklist_entries_deleted"],
    )
    return summary


def _user_delete_with_data(*, user_ids: list) -> int:
    """Delete these accounts and what belongs to them; returns how many accounts went."""
    # Refresh tokens only lose their user (SET_NULL) when it is deleted: remove them too.
    OutstandingToken.objects.filter(user_id__in=user_ids).delete()
    _, per_model = User.objects.filter(pk__in=user_ids).delete()
    return per_model.get(User._meta.label, 0)


def user_cleanup_unverified(
    *,
    now: datetime | None = None,
    max_days: int | None = None,
    batch_size: int = CLEANUP_BATCH_SIZE,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Delete accounts unverified `max_days` (UNVERIFIED_USER_MAX_DAYS) after joining, with their data.

    Staff and superusers are never deleted. An account whose data another app protects from
    deletion is skipped and logged, not retried forever. A second run deletes nothing.
    """
    now = now or timezone.now()
    max_days = settings.UNVERIFIED_USER_MAX_DAYS if max_days is None else max_days
    summary = {"users_deleted": 0, "users_skipped": 0}
    last_pk = None
    while True:
        stale = selectors.users_unverified_stale(now=now, max_days=max_days).order_by("pk")
        if last_pk is not None:
            stale = stale.filter(pk__gt=last_pk)  # keyset paging: a skipped account is not met again
        with transaction.atomic():
            # Locked, and the conditions checked again: an account verified meanwhile stays.
            ids = list(stale.select_for_update().values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            last_pk = ids[-1]
            try:
                with transaction.atomic():
                    summary["users_deleted"] += _user_delete_with_data(user_ids=ids)
            except (ProtectedError, RestrictedError):
                for user_id in ids:  # one by one, to delete all but the protected ones
                    try:
                        with transaction.atomic():
                            summary["users_deleted"] += _user_delete_with_data(user_ids=[user_id])
                    except (ProtectedError, RestrictedError):
                        logger.warning("Unverified account %s not deleted: other data protects it", user_id)
                        summary["users_skipped"] += 1
        if on_batch:
            on_batch(len(ids))
    logger.info(
        "Deleted %d account(s) unverified for %d+ days (%d skipped)",
        summary["users_deleted"],
        max_days,
        summary["users_skipped"],
    )
    return summary
