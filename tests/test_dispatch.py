import pytest
from django.core import mail
from django.db import transaction

from lms.jobs.dispatch import dispatch_on_commit
from notifications.models import Notification
from notifications.tasks import send_welcome_email
from tests.factories import UserFactory


@pytest.mark.django_db
def test_dispatch_waits_for_commit_and_returns_the_task_id(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the user and its own jobs commit first
        user = UserFactory()
    Notification.objects.all().delete()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks() as callbacks:
        task_id = dispatch_on_commit(send_welcome_email, str(user.pk))
        # nothing ran before the commit
        assert mail.outbox == []

    assert len(callbacks) == 1
    callbacks[0]()
    assert len(mail.outbox) == 1
    assert len(task_id) == 36


@pytest.mark.django_db
def test_user_created_enqueues_welcome_and_verification_after_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        UserFactory(is_verified=False)
        assert mail.outbox == []

    assert len(callbacks) == 2
    for callback in callbacks:
        callback()
    assert sorted(m.subject.split(" ")[0] for m in mail.outbox) == ["Confirm", "Welcome"]


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_sends_nothing():
    with pytest.raises(RuntimeError), transaction.atomic():
        UserFactory(is_verified=False)
        raise RuntimeError("rollback")

    assert mail.outbox == []
    assert not Notification.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_inline_mode_runs_the_job_after_commit_and_stores_its_result():
    from django_celery_results.models import TaskResult

    with transaction.atomic():
        user = UserFactory(is_verified=True)
        task_id = dispatch_on_commit(send_welcome_email, str(user.pk))
        assert not TaskResult.objects.filter(task_id=task_id).exists()

    assert TaskResult.objects.get(task_id=task_id).status == "SUCCESS"


@pytest.mark.django_db
def test_the_same_job_twice_in_one_transaction_is_sent_once(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the users and their own jobs commit first
        user, other_user = UserFactory(), UserFactory()

    with django_capture_on_commit_callbacks() as callbacks:
        first = dispatch_on_commit(send_welcome_email, str(user.pk))
        second = dispatch_on_commit(send_welcome_email, str(user.pk))
        other = dispatch_on_commit(send_welcome_email, str(other_user.pk))

    assert first == second != other
    assert [c.task_id for c in callbacks] == [first, other]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_savepoint_does_not_swallow_a_later_identical_job():
    user = UserFactory(is_verified=True)
    Notification.objects.all().delete()
    mail.outbox.clear()

    with transaction.atomic():
        try:
            with transaction.atomic():
                dispatch_on_commit(send_welcome_email, str(user.pk))
                raise RuntimeError("rollback the savepoint")
        except RuntimeError:
            pass
        dispatch_on_commit(send_welcome_email, str(user.pk))

    assert len(mail.outbox) == 1
