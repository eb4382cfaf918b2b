"""Account maintenance: expired refresh tokens and long-unverified accounts, as services, tasks
and commands. Time is frozen where the age of a row decides its fate."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from lms.users import services
from lms.users.models import User
from lms.users.tasks import cleanup_expired_tokens, cleanup_unverified_users
from notifications.models import Notification
from notifications.services import notification_welcome
from tests.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 5, 10, 3, 0, tzinfo=UTC)


def refresh_token_issued(user, *, at: datetime, blacklisted: bool = False) -> OutstandingToken:
    """A real refresh token (7 days' lifetime) issued at `at`."""
    with time_machine.travel(at, tick=False):
        token = RefreshToken.for_user(user)
        if blacklisted:
            token.blacklist()
    return OutstandingToken.objects.get(jti=token["jti"])


def joined(days_ago: float, **fields) -> User:
    return UserFactory(date_joined=NOW - timedelta(days=days_ago), **fields)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Many accounts per test; their passwords play no part here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def call(name: str, *args) -> str:
    out = StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


# --- expired refresh tokens -----------------------------------------------------------------


@pytest.fixture
def tokens(frozen):
    user = UserFactory()
    return {
        "expired": refresh_token_issued(user, at=NOW - timedelta(days=8)),
        "expired_blacklisted": refresh_token_issued(user, at=NOW - timedelta(days=9), blacklisted=True),
        "valid": refresh_token_issued(user, at=NOW - timedelta(days=6)),
        "valid_blacklisted": refresh_token_issued(user, at=NOW - timedelta(days=1), blacklisted=True),
    }


def test_token_cleanup_expired_deletes_expired_tokens_and_their_blacklist_entries(tokens):
    summary = services.token_cleanup_expired()

    assert summary == {"tokens_deleted": 2, "blacklist_entries_deleted": 1}
    assert set(OutstandingToken.objects.values_list("pk", flat=True)) == {
        tokens["valid"].pk,
        tokens["valid_blacklisted"].pk,
    }
    # a logged-out token that could still be presented stays blacklisted
    assert list(BlacklistedToken.objects.values_list("token_id", flat=True)) == [tokens["valid_blacklisted"].pk]


def test_token_cleanup_expired_works_in_batches(frozen):
    user = UserFactory()
    for _ in range(5):
        refresh_token_issued(user, at=NOW - timedelta(days=10))
    batches = []

    summary = services.token_cleanup_expired(batch_size=2, on_batch=batches.append)

    assert batches == [2, 2, 1]
    assert summary["tokens_deleted"] == 5
    assert not OutstandingToken.objects.exists()


def test_cleanup_expired_tokens_task_run_twice_deletes_once(tokens):
    first = cleanup_expired_tokens.apply()
    second = cleanup_expired_tokens.apply()

    assert first.get() == {"tokens_deleted": 2, "blacklist_entries_deleted": 1}
    assert second.get() == {"tokens_deleted": 0, "blacklist_entries_deleted": 0}


def test_cleanup_tokens_command_dry_run_reports_and_deletes_nothing(tokens):
    output = call("cleanup_tokens", "--dry-run")

    assert "would delete 2 expired refresh token(s) and 1 blacklist entr(ies)" in output
    assert OutstandingToken.objects.count() == 4


def test_cleanup_tokens_command_deletes_and_prints_a_summary(tokens, capsys):
    output = call("cleanup_tokens")

    assert "Deleted 2 expired refresh token(s) and 1 blacklist entr(ies)." in output
    assert OutstandingToken.objects.count() == 2
    assert "2/2" in capsys.readouterr().err  # the progress bar


# --- long-unverified accounts ---------------------------------------------------------------


@pytest.fixture
def accounts(frozen):
    stale = joined(8, is_verified=False)
    refresh_token_issued(stale, at=NOW - timedelta(days=8))
    return {
        "stale": stale,
        "exactly_seven_days": joined(7, is_verified=False),
        "recent": joined(6, is_verified=False),
        "verified": joined(30, is_verified=True),
        "staff": StaffFactory(date_joined=NOW - timedelta(days=30), is_verified=False),
        "superuser": joined(30, is_verified=False, is_superuser=True),
    }


def remaining(accounts) -> set[str]:
    ids = set(User.objects.values_list("pk", flat=True))
    return {name for name, user in accounts.items() if user.pk in ids}


def test_user_cleanup_unverified_deletes_accounts_unverified_for_seven_days_with_their_data(accounts):
    stale = accounts["stale"]
    notification_welcome(user=stale)

    summary = services.user_cleanup_unverified()

    assert summary == {"users_deleted": 2, "users_skipped": 0}
    assert remaining(accounts) == {"recent", "verified", "staff", "superuser"}
    assert not Notification.objects.filter(user_id=stale.pk).exists()
    assert not OutstandingToken.objects.filter(user_id=stale.pk).exists()
    assert not OutstandingToken.objects.filter(user__isnull=True).exists()


def test_user_cleanup_unverified_follows_the_setting(accounts, settings):
    settings.UNVERIFIED_USER_MAX_DAYS = 3

    services.user_cleanup_unverified()

    assert remaining(accounts) == {"verified", "staff", "superuser"}


def test_user_cleanup_unverified_works_in_batches(frozen):
    for _ in range(3):
        joined(10, is_verified=False)
    batches = []

    summary = services.user_cleanup_unverified(batch_size=2, on_batch=batches.append)

    assert batches == [2, 1]
    assert summary["users_deleted"] == 3


def test_cleanup_unverified_users_task_run_twice_deletes_once(accounts):
    first = cleanup_unverified_users.apply()
    second = cleanup_unverified_users.apply()

    assert first.get() == {"users_deleted": 2, "users_skipped": 0}
    assert second.get() == {"users_deleted": 0, "users_skipped": 0}


def test_cleanup_unverified_users_command_dry_run_lists_and_deletes_nothing(accounts):
    output = call("cleanup_unverified_users", "--dry-run", "--verbosity", "2")

    assert "would delete 2 account(s) unverified for 7+ days" in output
    assert accounts["stale"].email in output and accounts["exactly_seven_days"].email in output
    assert accounts["recent"].email not in output
    assert len(remaining(accounts)) == 6


def test_cleanup_unverified_users_command_deletes_and_prints_a_summary(accounts):
    output = call("cleanup_unverified_users", "--days", "5")

    assert "Deleted 3 account(s) unverified for 5+ days (0 skipped" in output
    assert remaining(accounts) == {"verified", "staff", "superuser"}


def test_cleanup_unverified_users_command_refuses_zero_days():
    with pytest.raises(CommandError, match="--days must be at least 1"):
        call("cleanup_unverified_users", "--days", "0")


# --- both tasks -----------------------------------------------------------------------------


@pytest.mark.parametrize("task", [cleanup_expired_tokens, cleanup_unverified_users])
def test_maintenance_tasks_are_bounded_and_routed_to_the_default_queue(task, settings):
    from lms.celery import app

    assert task.soft_time_limit < task.time_limit <= settings.TASK_MAX_DELAY_SECONDS
    assert task.retry_backoff_max <= settings.TASK_MAX_DELAY_SECONDS
    assert app.amqp.router.route({}, task.name)["queue"].name == "default"
