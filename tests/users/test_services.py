import pytest
import time_machine
from django.contrib.auth.tokens import default_token_generator
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import RefreshToken

from lms.errors import InvalidInput
from lms.users import services
from lms.users.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

STRONG = "correct-horse-battery-9"


def test_user_register_stores_lowercased_email_and_hashed_password():
    user = services.user_register(email="Ada@Example.COM", password=STRONG, full_name="Ada")

    assert user.email == "ada@example.com"
    assert user.check_password(STRONG)
    assert user.password != STRONG
    assert not user.is_verified


def test_user_register_rejects_taken_email_in_any_case():
    services.user_register(email="ada@example.com", password=STRONG, full_name="Ada")

    with pytest.raises(InvalidInput) as exc:
        services.user_register(email="ADA@example.com", password=STRONG, full_name="Ada 2")

    assert exc.value.field == "email"
    assert User.objects.count() == 1


@pytest.mark.parametrize("password", ["short", "password123", "12345678901", "ada@example.com"])
def test_user_register_rejects_weak_password_and_creates_nothing(password):
    with pytest.raises(InvalidInput) as exc:
        services.user_register(email="ada@example.com", password=password, full_name="Ada")

    assert exc.value.field == "password"
    assert not User.objects.exists()


def test_user_verify_email_accepts_a_fresh_token_and_is_repeatable():
    user = UserFactory(is_verified=False)
    token = services.email_verification_token_make(user=user)

    assert services.user_verify_email(token=token).is_verified
    assert services.user_verify_email(token=token).is_verified  # a second click is harmless
    user.refresh_from_db()
    assert user.is_verified


def test_user_verify_email_rejects_an_expired_token(settings):
    settings.EMAIL_VERIFICATION_MAX_AGE = 60
    user = UserFactory(is_verified=False)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        token = services.email_verification_token_make(user=user)
        traveller.shift(61)

        with pytest.raises(InvalidInput, match="expired"):
            services.user_verify_email(token=token)

    user.refresh_from_db()
    assert not user.is_verified


def test_user_verify_email_rejects_a_tampered_token():
    user = UserFactory(is_verified=False)
    token = services.email_verification_token_make(user=user)

    with pytest.raises(InvalidInput, match="not valid"):
        services.user_verify_email(token=token[:-2] + ("AA" if not token.endswith("AA") else "BB"))


def test_user_verify_email_token_stops_working_when_the_address_changes():
    user = UserFactory(is_verified=False)
    token = services.email_verification_token_make(user=user)
    User.objects.filter(pk=user.pk).update(email="new@example.com")

    with pytest.raises(InvalidInput):
        services.user_verify_email(token=token)


def test_password_reset_request_queues_one_email_for_a_known_address(mailoutbox, django_capture_on_commit_callbacks):
    user = UserFactory(email="ada@example.com")
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.password_reset_request(email="ADA@example.com")

    assert len(callbacks) == 1
    assert [m.to for m in mailoutbox] == [[user.email]]
    assert "/reset-password?uid=" in mailoutbox[0].body


def test_password_reset_request_for_an_unknown_address_sends_nothing(mailoutbox, django_capture_on_commit_callbacks):
    # the request queues the same job for any address (its timing must not tell them apart);
    # the job finds no account and sends nothing
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.password_reset_request(email="nobody@example.com")

    assert len(callbacks) == 1
    assert mailoutbox == []


def _uid_and_token(user):
    link = services.password_reset_link(user=user)
    query = link.split("?", 1)[1]
    params = dict(part.split("=", 1) for part in query.split("&"))
    return params["uid"], params["token"]


def test_password_reset_confirm_sets_the_password_and_the_token_works_once():
    user = UserFactory()
    uid, token = _uid_and_token(user)

    services.password_reset_confirm(uid=uid, token=token, new_password="a-brand-new-passw0rd")

    user.refresh_from_db()
    assert user.check_password("a-brand-new-passw0rd")
    with pytest.raises(InvalidInput, match="already been used"):
        services.password_reset_confirm(uid=uid, token=token, new_password="yet-another-passw0rd")


def test_password_reset_confirm_token_expires(settings):
    settings.PASSWORD_RESET_TIMEOUT = 60
    user = UserFactory()
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        uid, token = _uid_and_token(user)
        traveller.shift(120)
        assert not default_token_generator.check_token(user, token)
        with pytest.raises(InvalidInput):
            services.password_reset_confirm(uid=uid, token=token, new_password="a-brand-new-passw0rd")


def test_password_reset_confirm_rejects_weak_password_and_keeps_the_old_one():
    user = UserFactory()
    uid, token = _uid_and_token(user)

    with pytest.raises(InvalidInput) as exc:
        services.password_reset_confirm(uid=uid, token=token, new_password="123")

    assert exc.value.field == "new_password"
    user.refresh_from_db()
    assert not user.check_password("123")


@pytest.mark.parametrize("uid", ["", "!!!", "bm90LWEtdXVpZA", "MTIz"])
def test_password_reset_confirm_rejects_garbage_uids(uid):
    with pytest.raises(InvalidInput):
        services.password_reset_confirm(uid=uid, token="abc-def", new_password="a-brand-new-passw0rd")


def test_password_reset_confirm_blacklists_every_refresh_token():
    user = UserFactory()
    refresh_tokens = [RefreshToken.for_user(user) for _ in range(2)]
    uid, token = _uid_and_token(user)

    services.password_reset_confirm(uid=uid, token=token, new_password="a-brand-new-passw0rd")

    assert BlacklistedToken.objects.filter(token__jti__in=[str(t["jti"]) for t in refresh_tokens]).count() == 2
