import io
from contextlib import contextmanager

from pypdf import PdfReader

from certificates.signals import enrollments_completed_certificates
from enrollments import services
from enrollments.events import enrollments_completed
from tests.factories import UserFactory, course_with_lessons


@contextmanager
def certificate_jobs_off():
    """Completion without its certificate job, so a test can issue (or race) it by hand."""
    uid = "certificates.enrollments_completed"
    enrollments_completed.disconnect(dispatch_uid=uid)
    try:
        yield
    finally:
        enrollments_completed.connect(enrollments_completed_certificates, dispatch_uid=uid)


def completed_enrollment(*, learner=None, title="Reliable Background Jobs", lessons=2):
    """A completed enrollment whose certificate job was never queued."""
    course = course_with_lessons(lessons, title=title)
    with certificate_jobs_off():
        enrollment = services.enrollment_create(student=learner or UserFactory(full_name="Ada Lovelace"), course=course)
        for lesson in course.lessons.all():
            enrollment = services.enrollment_complete_lesson(enrollment=enrollment, lesson_id=lesson.pk)
    assert enrollment.status == "completed"
    return enrollment


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    assert len(reader.pages) == 1
    return " ".join(reader.pages[0].extract_text().split())
