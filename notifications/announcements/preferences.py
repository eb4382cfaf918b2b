"""A learner's notification preferences and the unsubscribe link of announcement e-mails.

Invariants:
- no preference row means the defaults (course announcements on); writing one is an upsert,
  so concurrent unsubscribes (a mail scanner and the learner) both succeed;
- the unsubscribe token is the user id signed with UNSUBSCRIBE_SALT: it needs no login, cannot
  be forged or pointed at another account, and never expires (an old e-mail's link must work);
- only course announcements are suppressed: account e-mails never look at the preference.
"""

from django.conf import settings
from django.core import signing

from lms.users.models import User
from notifications.models import NotificationPreference

UNSUBSCRIBE_SALT = "notifications.unsubscribe"


def preference_get(*, user: User) -> NotificationPreference:
    """The stored preferences, or the defaults (unsaved) when the learner never chose."""
    return NotificationPreference.objects.filter(user=user).first() or NotificationPreference(user=user)


def preference_update(*, user: User, course_announcements: bool) -> NotificationPreference:
    preference, _ = NotificationPreference.objects.update_or_create(
        user=user, defaults={"course_announcements": course_announcements}
    )
    return preference


def unsubscribe_token(*, user_id) -> str:
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign(str(user_id))


def unsubscribe_url(*, user_id) -> str:
    return f"{settings.FRONTEND_URL}/unsubscribe/{unsubscribe_token(user_id=user_id)}/"


def unsubscribe_user(*, token: str) -> User | None:
    """The account a token names, or None when it was tampered with or names nobody."""
    try:
        user_id = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign(token)
    except signing.BadSignature:
        return None
    return User.objects.filter(pk=user_id).first()


def preference_unsubscribe(*, token: str) -> User | None:
    """Opt the token's account out of course announcements. None (nothing changed) if the
    token is not valid. Idempotent: a second POST changes nothing more."""
    user = unsubscribe_user(token=token)
    if user is not None:
        preference_update(user=user, course_announcements=False)
    return user
