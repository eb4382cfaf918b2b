"""The database lease behind the single-beat lock when the broker is not Redis."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from redis.exceptions import LockError

from lms.jobs.leases import DatabaseLock, lease_renewed_age
from lms.models import Lease

pytestmark = pytest.mark.django_db


def test_only_one_holder_at_a_time_until_the_lease_expires():
    first, second = DatabaseLock("lease", timeout=60), DatabaseLock("lease", timeout=60)

    assert first.acquire(token="first")
    assert not second.acquire(token="second")
    assert first.owned() and not second.owned()

    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        # the first holder died and never renewed: the lease is free for the taking
        assert second.acquire(token="second")
        assert not first.owned()
        with pytest.raises(LockError):
            first.reacquire()


def test_the_holder_renews_and_releases():
    lock = DatabaseLock("lease", timeout=60)
    lock.acquire(token="me")

    with time_machine.travel(timezone.now() + timedelta(seconds=50)):
        assert lock.reacquire()
    with time_machine.travel(timezone.now() + timedelta(seconds=100)):
        assert lock.owned()  # renewed at +50 s, so it holds until +110 s
        lock.release()
        assert not lock.owned()
        assert DatabaseLock("lease", timeout=60).acquire(token="next")


def test_releasing_a_lease_held_by_another_is_an_error():
    DatabaseLock("lease", timeout=60).acquire(token="holder")
    intruder = DatabaseLock("lease", timeout=60)
    intruder.token = "intruder"

    with pytest.raises(LockError):
        intruder.release()
    assert Lease.objects.get(name="lease").holder == "holder"


def test_renewed_age_reports_the_last_renewal():
    assert lease_renewed_age("lease") is None
    lock = DatabaseLock("lease", timeout=60)
    lock.acquire(token="me")

    with time_machine.travel(timezone.now() + timedelta(seconds=30)):
        assert 29 <= lease_renewed_age("lease") <= 31
