"""Who may do what: every object endpoint of the API for the owner, another learner, anonymous
and staff (API.md: another learner's objects are 404, never 403; staff-only operations are 403
for learners and 401 for anonymous); no list shows anyone else's rows; fields a caller must not
set (status, progress, owner, staff and verification flags, revocation) are ignored or refused,
and the database shows nothing changed.
"""

from dataclasses import dataclass
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from certificates.models import Certificate
from certificates.services import certificate_issue
from courses.models import Course
from enrollments.models import Enrollment
from enrollments.services import enrollment_complete_lesson, enrollment_create
from lms.users.models import User
from notifications.models import Notification
from notifications.services import notification_welcome
from tests.certificates.helpers import completed_enrollment
from tests.conftest import client_for
from tests.factories import StaffFactory, UserFactory, course_with_lessons

pytestmark = pytest.mark.django_db


@dataclass
class World:
    owner: User
    other: User
    staff: User
    course: Course  # published, 3 lessons; the owner is enrolled, 1 lesson done
    draft: Course  # unpublished
    enrollment: Enrollment
    completed: Enrollment  # the owner's, with `certificate`
    certificate: Certificate
    notification: Notification
    theirs: dict  # the other learner's own rows, by kind

    def owned_by(self, who: str) -> dict[str, set[str]]:
        """Ids each list endpoint must show `who`: their own rows, nobody else's."""
        if who == "owner":
            return {
                "/api/enrollments/": {str(self.enrollment.pk), str(self.completed.pk)},
                "/api/certificates/": {str(self.certificate.pk)},
                "/api/notifications/": set(map(str, self.owner.notifications.values_list("pk", flat=True))),
            }
        if who == "other":
            return {path: {str(pk) for pk in ids} for path, ids in self.theirs.items()}
        return {"/api/enrollments/": set(), "/api/certificates/": set(), "/api/notifications/": set()}


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Three accounts per test: hashing at the production cost would dominate the run.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world() -> World:
    owner, other, staff = UserFactory(), UserFactory(), StaffFactory()
    course = course_with_lessons(3, title="Access control")
    enrollment = enrollment_create(student=owner, course=course)
    enrollment_complete_lesson(enrollment=enrollment, lesson_id=course.lessons.order_by("position").first().pk)
    completed = completed_enrollment(learner=owner, title="Finished")
    certificate = certificate_issue(enrollment_id=completed.pk).certificate
    notification = notification_welcome(user=owner)

    their_completed = completed_enrollment(learner=other, title="Theirs")
    their_certificate = certificate_issue(enrollment_id=their_completed.pk).certificate
    notification_welcome(user=other)
    theirs = {
        "/api/enrollments/": [their_completed.pk],
        "/api/certificates/": [their_certificate.pk],
        "/api/notifications/": list(other.notifications.values_list("pk", flat=True)),
    }
    return World(
        owner=owner,
        other=other,
        staff=staff,
        course=course,
        draft=course_with_lessons(1, title="Draft", is_published=False),
        enrollment=enrollment,
        completed=completed,
        certificate=certificate,
        notification=notification,
        theirs=theirs,
    )


def client_as(who: str, world: World) -> APIClient:
    return APIClient() if who == "anonymous" else client_for(getattr(world, who))


def url(template: str, world: World) -> str:
    return template.format(
        enrollment=world.enrollment.pk,
        completed=world.completed.pk,
        lesson=world.course.lessons.order_by("position").last().pk,
        course=world.course.pk,
        draft=world.draft.pk,
        certificate=world.certificate.pk,
        number=world.certificate.certificate_number,
        notification=world.notification.pk,
    )


def owner_state(world: World) -> tuple:
    """Everything a denied request must leave exactly as it was."""
    enrollment = Enrollment.objects.get(pk=world.enrollment.pk)
    certificate = Certificate.objects.get(pk=world.certificate.pk)
    return (
        enrollment.status,
        enrollment.progress_percentage,
        enrollment.completed_lessons_count,
        enrollment.student_id,
        certificate.is_revoked,
        Notification.objects.get(pk=world.notification.pk).read_at,
        Enrollment.objects.count(),
        Enrollment.objects.filter(student=world.other).count(),
    )


# fmt: off
ACCESS = [
    # method  path                                                         owner other anon staff
    ("GET",  "/api/me/",                                                     200,  200,  401,  200),
    ("GET",  "/api/enrollments/",                                            200,  200,  401,  200),
    ("GET",  "/api/enrollments/{enrollment}/",                               200,  404,  401,  404),
    ("POST", "/api/enrollments/{enrollment}/lessons/{lesson}/complete/",     200,  404,  401,  404),
    ("POST", "/api/enrollments/{enrollment}/drop/",                          200,  404,  401,  404),
    ("POST", "/api/enrollments/{completed}/drop/",                           409,  404,  401,  404),
    ("GET",  "/api/certificates/",                                           200,  200,  401,  200),
    ("GET",  "/api/certificates/{certificate}/",                             200,  404,  401,  200),
    ("GET",  "/api/certificates/{certificate}/download/",                    200,  404,  401,  200),
    ("POST", "/api/certificates/{certificate}/revoke/",                      403,  403,  401,  202),
    ("GET",  "/api/certificates/verify/{number}/",                           200,  200,  200,  200),
    ("GET",  "/api/notifications/",                                          200,  200,  401,  200),
    ("POST", "/api/notifications/{notification}/read/",                      200,  404,  401,  404),
    ("GET",  "/api/courses/",                                                200,  200,  200,  200),
    ("GET",  "/api/courses/{course}/",                                       200,  200,  200,  200),
    ("GET",  "/api/courses/{draft}/",                                        404,  404,  404,  200),
    ("POST", "/api/courses/{course}/enroll/",                                409,  201,  401,  201),
    ("POST", "/api/courses/{draft}/enroll/",                                 404,  404,  401,  404),
    ("POST", "/api/courses/{course}/recalculate-progress/",                  403,  403,  401,  202),
]
# fmt: on
CALLERS = ("owner", "other", "anonymous", "staff")
CASES = [
    pytest.param(method, path, who, codes[i], id=f"{method} {path} as {who} -> {codes[i]}")
    for method, path, *codes in ACCESS
    for i, who in enumerate(CALLERS)
]


@pytest.mark.parametrize(("method", "path", "who", "expected"), CASES)
def test_access_matrix_answers_each_caller_as_the_contract_says(world, method, path, who, expected):
    # given the owner's rows as they are
    before = owner_state(world)
    body = {"reason": "Issued in error"} if path.endswith("/revoke/") else None

    # when this caller calls the endpoint
    response = getattr(client_as(who, world), method.lower())(url(path, world), body, format="json")

    # then the contract's status code, and a refusal changed nothing
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert owner_state(world) == before


@pytest.mark.parametrize("who", ["owner", "other", "staff"])
@pytest.mark.parametrize("path", ["/api/enrollments/", "/api/certificates/", "/api/notifications/"])
def test_access_matrix_lists_show_only_the_callers_own_rows(world, who, path):
    # given rows of the owner and of another learner; staff own none
    expected = world.owned_by(who)[path]

    # when the caller lists
    response = client_as(who, world).get(path)

    # then exactly their own rows, even for staff
    assert response.status_code == 200
    assert {row["id"] for row in response.json()["results"]} == expected


@pytest.mark.parametrize(("who", "sees_draft"), [("anonymous", False), ("owner", False), ("staff", True)])
def test_access_matrix_course_list_shows_drafts_to_staff_only(world, who, sees_draft):
    ids = {row["id"] for row in client_as(who, world).get("/api/courses/").json()["results"]}

    assert str(world.course.pk) in ids
    assert (str(world.draft.pk) in ids) is sees_draft


# --- Mass assignment ------------------------------------------------------------------------

PRIVILEGED_USER_FIELDS = {
    "is_staff": True,
    "is_superuser": True,
    "is_verified": True,
    "is_active": False,
    "id": "00000000-0000-0000-0000-000000000001",
    "date_joined": "2000-01-01T00:00:00Z",
}


def test_mass_assignment_register_ignores_privilege_fields(api_client):
    # given a registration carrying every privileged field of a user
    payload = {"email": "mallory@example.com", "password": "correct-horse-battery-9", "full_name": "Mallory"}

    # when it is sent
    response = api_client.post("/api/auth/register/", {**payload, **PRIVILEGED_USER_FIELDS}, format="json")

    # then the account is an ordinary, unverified learner's
    assert response.status_code == 201
    user = User.objects.get(email="mallory@example.com")
    assert (user.is_staff, user.is_superuser, user.is_verified, user.is_active) == (False, False, False, True)
    assert str(user.pk) != PRIVILEGED_USER_FIELDS["id"] and user.date_joined.year > 2000
    assert response.json()["is_verified"] is False


@pytest.mark.parametrize("method", ["put", "patch", "post", "delete"])
def test_mass_assignment_me_cannot_be_written(world, method):
    response = getattr(client_for(world.owner), method)("/api/me/", PRIVILEGED_USER_FIELDS, format="json")

    assert response.status_code == 405
    world.owner.refresh_from_db()
    assert (world.owner.is_staff, world.owner.is_superuser, world.owner.is_active) == (False, False, True)


ENROLLMENT_FIELDS = {
    "status": "completed",
    "progress_percentage": 100,
    "completed_lessons_count": 99,
    "total_lessons_count": 1,
    "completed_at": "2000-01-01T00:00:00Z",
    "certificate": {"id": "00000000-0000-0000-0000-000000000001", "certificate_number": "LMS-FAKE"},
}


def test_mass_assignment_enroll_ignores_status_progress_and_student(world):
    # given a fresh course and a body naming another student and a finished state
    course = course_with_lessons(2, title="Fresh")
    body = {**ENROLLMENT_FIELDS, "student": str(world.other.pk), "course": str(world.course.pk)}

    # when the owner enrolls with it
    response = client_for(world.owner).post(f"/api/courses/{course.pk}/enroll/", body, format="json")

    # then an ordinary new enrollment of the caller in the course of the URL
    assert response.status_code == 201
    enrollment = Enrollment.objects.get(pk=response.json()["id"])
    assert (enrollment.student_id, enrollment.course_id) == (world.owner.pk, course.pk)
    assert (enrollment.status, enrollment.progress_percentage, enrollment.completed_lessons_count) == (
        "active",
        Decimal(0),
        0,
    )
    assert enrollment.completed_at is None and not Certificate.objects.filter(enrollment=enrollment).exists()
    assert not Enrollment.objects.filter(student=world.other, course=course).exists()


def test_mass_assignment_complete_lesson_counts_only_the_lesson(world):
    lesson = world.course.lessons.order_by("position")[1]

    response = client_for(world.owner).post(
        f"/api/enrollments/{world.enrollment.pk}/lessons/{lesson.pk}/complete/",
        {**ENROLLMENT_FIELDS, "student": str(world.other.pk)},
        format="json",
    )

    assert response.status_code == 200
    enrollment = Enrollment.objects.get(pk=world.enrollment.pk)
    assert (enrollment.status, enrollment.completed_lessons_count, enrollment.student_id) == (
        "active",
        2,
        world.owner.pk,
    )
    assert enrollment.progress_percentage == Decimal("66.67")


def test_mass_assignment_drop_only_drops(world):
    response = client_for(world.owner).post(
        f"/api/enrollments/{world.enrollment.pk}/drop/",
        {"status": "completed", "student": str(world.other.pk), "progress_percentage": 100},
        format="json",
    )

    assert response.status_code == 200
    enrollment = Enrollment.objects.get(pk=world.enrollment.pk)
    assert (enrollment.status, enrollment.student_id, enrollment.completed_lessons_count) == (
        "dropped",
        world.owner.pk,
        1,
    )


def test_mass_assignment_revoke_changes_only_the_revocation(world, django_capture_on_commit_callbacks):
    # given a body that also tries to rename, renumber and un-revoke the certificate
    number = world.certificate.certificate_number
    body = {
        "reason": "Issued in error",
        "is_revoked": False,
        "revoked_at": None,
        "certificate_number": "LMS-2000-FAKE-FAKE",
        "learner_name": "Someone Else",
        "enrollment": str(world.enrollment.pk),
    }

    # when staff revokes with it (the job runs inline after commit)
    revoke = url("/api/certificates/{certificate}/revoke/", world)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(world.staff).post(revoke, body, format="json")

    # then it is revoked for the given reason and nothing else about it moved
    assert response.status_code == 202
    certificate = Certificate.objects.get(pk=world.certificate.pk)
    assert (certificate.is_revoked, certificate.revoke_reason) == (True, "Issued in error")
    assert (certificate.certificate_number, certificate.learner_name, certificate.enrollment_id) == (
        number,
        world.certificate.learner_name,
        world.completed.pk,
    )


def test_mass_assignment_read_notification_sets_only_read_at(world):
    before = Notification.objects.get(pk=world.notification.pk)

    response = client_for(world.owner).post(
        f"/api/notifications/{world.notification.pk}/read/",
        {"read_at": "2000-01-01T00:00:00Z", "user": str(world.other.pk), "subject": "Forged", "status": "failed"},
        format="json",
    )

    assert response.status_code == 200
    after = Notification.objects.get(pk=world.notification.pk)
    assert after.read_at is not None and after.read_at.year > 2000
    assert (after.user_id, after.subject, after.status) == (world.owner.pk, before.subject, before.status)


def test_mass_assignment_verify_email_and_password_reset_grant_nothing(world, api_client):
    from lms.users import services

    world.owner.is_verified = False
    world.owner.save(update_fields=["is_verified"])
    token = services.email_verification_token_make(user=world.owner)
    link = services.password_reset_link(user=world.owner)
    params = dict(part.split("=", 1) for part in link.split("?", 1)[1].split("&"))

    verified = api_client.post("/api/auth/verify-email/", {"token": token, **PRIVILEGED_USER_FIELDS}, format="json")
    reset = api_client.post(
        "/api/auth/password-reset/confirm/",
        {**params, "new_password": "a-brand-new-passw0rd", **PRIVILEGED_USER_FIELDS},
        format="json",
    )

    assert (verified.status_code, reset.status_code) == (200, 200)
    world.owner.refresh_from_db()
    assert world.owner.is_verified
    assert (world.owner.is_staff, world.owner.is_superuser, world.owner.is_active) == (False, False, True)
