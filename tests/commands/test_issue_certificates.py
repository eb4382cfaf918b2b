import io

import pytest
from django.core.management import CommandError, call_command

from certificates.models import Certificate
from tests.certificates.helpers import completed_enrollment

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command("issue_certificates", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_dry_run_lists_and_changes_nothing():
    enrollment = completed_enrollment()

    output = run("--dry-run")

    assert str(enrollment.pk) in output
    assert "1 certificate(s) would be issued" in output
    assert not Certificate.objects.exists()


def test_issues_missing_certificates_inline_and_only_once():
    enrollments = [completed_enrollment(title=f"Course {i}") for i in range(3)]

    first = run()
    second = run()

    assert "Issued 3 certificate(s)" in first
    assert "Issued 0 certificate(s)" in second
    assert Certificate.objects.count() == 3
    assert {c.enrollment_id for c in Certificate.objects.all()} == {e.pk for e in enrollments}


def test_course_filter_and_async(django_capture_on_commit_callbacks):
    wanted, other = completed_enrollment(title="A"), completed_enrollment(title="B")

    with django_capture_on_commit_callbacks() as callbacks:
        output = run("--course", str(wanted.course_id), "--async")

    # one job with one id for the course, issuing its certificates and reporting progress
    [batch] = callbacks
    assert batch.task.name == "certificates.tasks.issue_course_certificates"
    assert batch.args == (str(wanted.course_id),)
    assert "Queued one job issuing 1 certificate(s)." in output
    assert f"Task id: {batch.task_id}" in output
    # run, it issues the course's certificate only
    batch()
    assert Certificate.objects.filter(enrollment=wanted).exists()
    assert not Certificate.objects.filter(enrollment=other).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--course", "x"), "takes a course id"),
        (("--course", "00000000-0000-0000-0000-000000000000"), "No course"),
    ],
)
def test_errors_say_what_to_do(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_async_queues_outbox_batches_of_certificate_jobs(settings, monkeypatch, django_capture_on_commit_callbacks):
    # given five completed enrollments without certificates, outbox batches of four
    # enrollments and certificate jobs of two
    monkeypatch.setattr("certificates.management.commands.issue_certificates.QUEUE_BATCH_SIZE", 4)
    settings.CERTIFICATES_PER_JOB = 2
    enrollments = [completed_enrollment(title=f"Course {i}") for i in range(5)]

    # when their certificates are queued
    with django_capture_on_commit_callbacks() as callbacks:
        output = run("--async")

    # then two outbox batches (4 + 1 enrollments) of generate_certificates jobs (2 + 2, then 1),
    # every enrollment in exactly one job
    assert "Queued 5 certificate(s)" in output
    assert [[len(job.args[0]) for job in batch.jobs] for batch in callbacks] == [[2, 2], [1]]
    assert {batch.task.name for batch in callbacks} == {"certificates.tasks.generate_certificates"}
    queued = sorted(pk for batch in callbacks for job in batch.jobs for pk in job.args[0])
    assert queued == sorted(str(e.pk) for e in enrollments)
