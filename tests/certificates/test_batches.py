"""Certificates in batches (`generate_certificates`, the fan-out path): each enrollment still
issued once, for a constant number of statements a batch, one bad render never holding back
the rest."""

import json
import threading

import pytest
from django.core import mail
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_celery_results.models import TaskResult

from certificates import services
from certificates.models import Certificate
from certificates.tasks import generate_certificates
from enrollments import services as enrollment_services
from enrollments.models import Enrollment
from notifications.models import Notification
from tests.certificates.helpers import certificate_jobs_off, completed_enrollment, pdf_text
from tests.factories import UserFactory, course_with_lessons
from tests.faults.data import learners_with_stale_progress


def completed_enrollments(n: int) -> list[str]:
    """`n` enrollments of one course, completed by one recalculation, no certificate queued."""
    course = learners_with_stale_progress(n, lessons_done=1, lessons=1, passwords=False)
    with certificate_jobs_off():
        enrollment_services.course_progress_recalculate(course_id=course.pk)
    ids = [str(pk) for pk in Enrollment.objects.filter(course=course, status="completed").values_list("pk", flat=True)]
    assert len(ids) == n
    return ids


@pytest.mark.django_db
def test_a_batch_issues_each_completed_enrollment_once_and_says_why_it_skipped_the_rest(
    django_capture_on_commit_callbacks,
):
    # given three completed enrollments, one of them already certified, one still active and
    # one id that no longer exists
    new = completed_enrollments(2)
    certified = completed_enrollment()
    services.certificate_issue(enrollment_id=certified.pk)
    active = enrollment_services.enrollment_create(student=UserFactory(), course=course_with_lessons(2))
    gone = "00000000-0000-0000-0000-000000000000"
    mail.outbox.clear()

    # when one job runs for all of them (twice, as a redelivery would)
    with django_capture_on_commit_callbacks(execute=True):
        first = generate_certificates.apply(args=[[*new, str(certified.pk), str(active.pk), gone]]).get()
    with django_capture_on_commit_callbacks(execute=True):
        second = generate_certificates.apply(args=[[*new, str(certified.pk)]]).get()

    # then the two new ones were issued, each with its PDF, its number and one e-mail
    assert sorted(first["issued"]) == sorted(new)
    assert first["skipped"] == {
        str(certified.pk): "already issued",
        str(active.pk): "enrollment is active, not completed",
        gone: "enrollment no longer exists",
    }
    assert first["failed"] == {}
    for enrollment_id, number in first["issued"].items():
        certificate = Certificate.objects.get(enrollment_id=enrollment_id)
        assert certificate.certificate_number == number
        assert number in pdf_text(default_storage.open(certificate.pdf.name).read())
    assert sorted(m.subject for m in mail.outbox) == ["Your certificate for Bulk Completions is ready"] * 2
    # and the second run issued nothing and sent nothing
    assert second["issued"] == {} and set(second["skipped"].values()) == {"already issued"}
    assert Certificate.objects.count() == 3
    assert Notification.objects.filter(kind="certificate_ready").count() == 3
    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_a_batch_costs_the_same_statements_for_1_and_25_certificates(django_capture_on_commit_callbacks):
    # given a batch of 1 and one of 25 completed enrollments
    one, many = completed_enrollments(1), completed_enrollments(25)

    # when each is issued (the statements through its commit counted, e-mails queued not sent)
    counted = []
    for ids in (one, many):
        with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=False):
            outcome = services.certificates_issue_many(enrollment_ids=ids)
        assert len(outcome.issued) == len(ids)
        counted.append([q["sql"].split()[0] for q in queries.captured_queries])

    # then both cost the same statements: lock the enrollments, read their certificates, look up
    # the drawn numbers, INSERT the certificates, INSERT their Notifications (inline here: with a
    # broker, one outbox INSERT of the e-mails follows)
    assert counted[0] == counted[1]
    assert counted[0] == ["SAVEPOINT", "SELECT", "SELECT", "SELECT", "INSERT", "INSERT", "RELEASE"]


@pytest.mark.django_db
def test_one_certificate_that_fails_to_render_continues_as_its_own_job(monkeypatch, django_capture_on_commit_callbacks):
    # given three completed enrollments, the second of which makes the renderer raise
    ids = completed_enrollments(3)
    bad = sorted(ids)[1]
    real_write = services._write_pdf

    def write(certificate):
        if str(certificate.enrollment_id) == bad:
            raise ValueError("no glyph for this name")
        real_write(certificate)

    monkeypatch.setattr(services, "_write_pdf", write)

    # when they are issued as one batch
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        outcome = services.certificates_issue_many(enrollment_ids=ids)

    # then the other two are issued, and the bad one is queued alone as generate_certificate
    assert sorted(outcome.issued) == sorted(set(ids) - {bad})
    assert outcome.failed == {bad: "ValueError: no glyph for this name"}
    jobs = {(job.task.name, job.args) for batch in callbacks for job in batch.jobs}
    assert ("certificates.tasks.generate_certificate", (bad,)) in jobs
    assert not Certificate.objects.filter(enrollment_id=bad).exists()
    assert not default_storage.exists(f"certificates/{bad}.pdf")


@pytest.mark.django_db
def test_a_storage_error_fails_the_batch_whole_and_leaves_no_file(monkeypatch):
    # given a storage that fails on the third write
    ids = completed_enrollments(4)
    real_write, writes = services._write_pdf, []

    def write(certificate):
        writes.append(certificate.enrollment_id)
        if len(writes) == 3:
            raise OSError(28, "No space left on device")
        real_write(certificate)

    monkeypatch.setattr(services, "_write_pdf", write)

    # when the batch runs, then it raises (the task retries it whole) and nothing stays behind
    with pytest.raises(OSError, match="No space"):
        services.certificates_issue_many(enrollment_ids=ids)
    assert not Certificate.objects.exists()
    assert not Notification.objects.filter(kind="certificate_ready").exists()
    assert not any(default_storage.exists(f"certificates/{pk}.pdf") for pk in ids)


@pytest.mark.django_db(transaction=True)
def test_overlapping_batches_and_single_jobs_leave_one_certificate_each():
    if connection.vendor != "postgresql":
        pytest.fail("Concurrency is proven on PostgreSQL: run with DATABASE_URL=postgres://... (scripts/test)")
    # given 12 completed enrollments and four runs racing over them: two overlapping batches
    # (in opposite orders) and two single jobs
    ids = completed_enrollments(12)
    mail.outbox.clear()
    runs = [
        lambda: services.certificates_issue_many(enrollment_ids=ids[:8]),
        lambda: services.certificates_issue_many(enrollment_ids=list(reversed(ids[4:]))),
        lambda: services.certificate_issue(enrollment_id=ids[5]),
        lambda: services.certificate_issue(enrollment_id=ids[10]),
    ]
    barrier = threading.Barrier(len(runs))
    errors = []

    def run(work):
        try:
            barrier.wait()
            work()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(work,)) for work in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then no run failed (no deadlock, no duplicate key) and each enrollment has one certificate
    assert errors == []
    assert sorted(str(pk) for pk in Certificate.objects.values_list("enrollment_id", flat=True)) == sorted(ids)
    assert Notification.objects.filter(kind="certificate_ready").count() == 12


@pytest.mark.django_db
def test_the_batch_result_is_stored_with_what_it_issued():
    # given two completed enrollments
    ids = completed_enrollments(2)

    # when their job runs under a known id
    generate_certificates.apply(args=[ids], task_id="batch-result-1")

    # then the result store holds the job with each enrollment's certificate number
    stored = TaskResult.objects.get(task_id="batch-result-1")
    assert stored.status == "SUCCESS"
    numbers = dict(Certificate.objects.values_list("enrollment_id", "certificate_number"))
    assert json.loads(stored.result)["issued"] == {str(pk): number for pk, number in numbers.items()}
