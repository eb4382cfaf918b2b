import hashlib
import re
import threading

import pytest
from django.core import mail
from django.core.files.storage import default_storage
from django.db import connection

from certificates import services
from certificates.models import Certificate
from certificates.tasks import generate_certificate, revoke_certificate
from enrollments import services as enrollment_services
from notifications.models import Notification
from tests.certificates.helpers import completed_enrollment, pdf_text
from tests.factories import UserFactory, course_with_lessons

NUMBER = re.compile(r"^LMS-\d{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


@pytest.mark.django_db
def test_certificate_issue_renders_stores_and_announces_once(django_capture_on_commit_callbacks):
    enrollment = completed_enrollment()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.certificate_issue(enrollment_id=enrollment.pk)

    certificate = outcome.certificate
    assert outcome.created and NUMBER.match(certificate.certificate_number)
    content = default_storage.open(certificate.pdf.name).read()
    assert hashlib.sha256(content).hexdigest() == certificate.sha256
    text = pdf_text(content)
    for expected in ("Ada Lovelace", "Reliable Background Jobs", certificate.certificate_number):
        assert expected in text
    assert [m.subject for m in mail.outbox] == ["Your certificate for Reliable Background Jobs is ready"]
    assert certificate.certificate_number in mail.outbox[0].body


@pytest.mark.django_db
def test_certificate_issue_twice_leaves_one_certificate_and_one_email(django_capture_on_commit_callbacks):
    enrollment = completed_enrollment()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        first = generate_certificate.apply(args=[str(enrollment.pk)]).get()
        second = generate_certificate.apply(args=[str(enrollment.pk)]).get()

    assert first["number"]
    assert second == {"skipped": "already issued", "certificate_id": first["certificate_id"]}
    assert Certificate.objects.count() == 1
    assert len(mail.outbox) == 1
    assert Notification.objects.filter(kind="certificate_ready").count() == 1


@pytest.mark.django_db
def test_certificate_issue_skips_an_enrollment_that_is_not_complete():
    enrollment = enrollment_services.enrollment_create(student=UserFactory(), course=course_with_lessons(2))

    result = generate_certificate.apply(args=[str(enrollment.pk)]).get()

    assert result == {"skipped": "enrollment is active, not completed", "certificate_id": None}
    assert not Certificate.objects.exists()
    assert not default_storage.exists(f"certificates/{enrollment.pk}.pdf")


@pytest.mark.django_db
def test_certificate_issue_for_a_deleted_enrollment_logs_and_returns():
    assert generate_certificate.apply(args=["00000000-0000-0000-0000-000000000000"]).get()["skipped"]


@pytest.mark.django_db
def test_a_failed_transaction_leaves_no_file_behind(monkeypatch):
    enrollment = completed_enrollment()

    def broken_notification(**kwargs):
        raise RuntimeError("database went away mid-transaction")

    monkeypatch.setattr(services, "notifications_send_new", broken_notification)

    with pytest.raises(RuntimeError):
        services.certificate_issue(enrollment_id=enrollment.pk)

    assert not Certificate.objects.exists()
    assert not default_storage.exists(f"certificates/{enrollment.pk}.pdf")


@pytest.mark.django_db
def test_a_rerun_after_a_crash_overwrites_the_half_written_file():
    # given a worker that wrote the PDF and died before its row committed
    enrollment = completed_enrollment()
    default_storage.save(f"certificates/{enrollment.pk}.pdf", __import__("io").BytesIO(b"partial"))

    # when the redelivered job runs
    outcome = services.certificate_issue(enrollment_id=enrollment.pk)

    # then it reuses the name: one file, the real PDF
    assert outcome.certificate.pdf.name == f"certificates/{enrollment.pk}.pdf"
    assert default_storage.open(outcome.certificate.pdf.name).read().startswith(b"%PDF")
    assert default_storage.listdir("certificates")[1] == [f"{enrollment.pk}.pdf"]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_leave_one_certificate_and_one_email():
    if connection.vendor != "postgresql":
        pytest.fail("Concurrency is proven on PostgreSQL: run with DATABASE_URL=postgres://... (scripts/test)")
    enrollment = completed_enrollment()
    mail.outbox.clear()
    barrier = threading.Barrier(4)
    outcomes, errors = [], []

    def run():
        try:
            barrier.wait()
            outcomes.append(services.certificate_issue(enrollment_id=enrollment.pk))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(o.created for o in outcomes) == 1
    assert Certificate.objects.count() == 1
    assert Notification.objects.filter(kind="certificate_ready").count() == 1
    assert len(mail.outbox) == 1
    assert default_storage.listdir("certificates")[1] == [f"{enrollment.pk}.pdf"]


@pytest.mark.django_db
def test_completion_enqueues_the_certificate_after_commit(django_capture_on_commit_callbacks):
    course = course_with_lessons(1)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        enrollment = enrollment_services.enrollment_create(student=UserFactory(), course=course)
        enrollment = enrollment_services.enrollment_complete_lesson(
            enrollment=enrollment, lesson_id=course.lessons.get().pk
        )
        assert not Certificate.objects.exists()  # nothing before the commit

    assert "certificates.tasks.generate_certificates" in [c.task.name for c in callbacks]
    assert Certificate.objects.filter(enrollment=enrollment).exists()


@pytest.mark.django_db
def test_revoke_is_idempotent_and_tells_the_learner_once(django_capture_on_commit_callbacks):
    certificate = services.certificate_issue(enrollment_id=completed_enrollment().pk).certificate
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        first = revoke_certificate.apply(args=[str(certificate.pk), "Plagiarism"]).get()
        second = revoke_certificate.apply(args=[str(certificate.pk), "Again"]).get()

    certificate.refresh_from_db()
    assert (first["revoked"], second["revoked"]) == (True, False)
    assert (certificate.is_revoked, certificate.revoke_reason) == (True, "Plagiarism")
    assert certificate.revoked_at is not None
    assert [m.subject for m in mail.outbox] == ["Your certificate for Reliable Background Jobs was revoked"]
    assert "Plagiarism" in mail.outbox[0].body


@pytest.mark.django_db
def test_regenerate_keeps_the_number_and_rewrites_the_file():
    certificate = services.certificate_issue(enrollment_id=completed_enrollment().pk).certificate
    default_storage.delete(certificate.pdf.name)

    result = generate_certificate.apply(args=[str(certificate.enrollment_id)], kwargs={"regenerate": True}).get()

    regenerated = Certificate.objects.get()
    assert result["regenerated"] is True
    assert regenerated.certificate_number == certificate.certificate_number
    assert certificate.certificate_number in pdf_text(default_storage.open(regenerated.pdf.name).read())


def test_certificate_numbers_are_random_and_readable():
    numbers = {services.certificate_number_generate(year=2026) for _ in range(2000)}

    assert len(numbers) == 2000
    assert all(NUMBER.match(n) for n in numbers)
