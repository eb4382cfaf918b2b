"""Every operation of /api/schema/, fuzzed by schemathesis: no 5xx, every response as documented.

The schema is loaded from the running app (its WSGI handler, in-process) and each operation is
called with generated valid and invalid input, as an anonymous caller, a learner and staff
(real JWTs from /api/auth/token/), against PostgreSQL with a seeded learner who owns an
enrollment, a certificate and a notification. Half of the valid cases get the ids of those real
objects, so the success paths run too, not only the 404s.

Checks: no server error; the status code, content type, headers and body are the ones the schema
documents; invalid input is refused with a 4xx; auth is enforced. Not checked: that any
schema-valid input is accepted, because validity here often depends on secrets and state the
schema cannot express (a token that really was issued, a password strong enough).
"""

import random

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient
from schemathesis.checks import positive_data_acceptance
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation

from certificates.services import certificate_issue
from enrollments.services import enrollment_create
from notifications.announcements.services import announcement_create
from notifications.services import notification_welcome
from tests.certificates.helpers import completed_enrollment
from tests.factories import DEFAULT_PASSWORD, StaffFactory, UserFactory, course_with_lessons

# Generated cases per operation and caller, on top of schemathesis' own boundary ("coverage")
# cases; the whole module takes well under a minute.
MAX_EXAMPLES = 25

django_app = WSGIHandler()


def app_under_test(environ, start_response):
    """The Django app as Django's test client runs it: the test's database connection (and the
    transaction pytest-django rolls back) survives the end of each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        response = django_app(environ, start_response)
        body = list(response)
        response.close()
        return body
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


schema = schemathesis.openapi.from_wsgi(
    "/api/schema/",
    app_under_test,
    config=SchemathesisConfig.from_dict(
        # Credentials are the caller's (below), never generated.
        {"generation": {"max-examples": MAX_EXAMPLES, "with-security-parameters": False}}
    ),
)

# Ids of the seeded rows, by the collection their path parameter names.
REAL_IDS: dict[str, list[str]] = {}
COLLECTIONS = {
    "courses": "course",
    "enrollments": "enrollment",
    "certificates": "certificate",
    "notifications": "notification",
    "announcements": "announcement",
}


@pytest.fixture
def seeded(db, settings):
    # Hashing a password at Django's production cost would dominate the run.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Auth endpoints stay throttled (429 is documented and allowed) but rarely get there.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"auth": "1000/min", "certificate_verify": "1000/min"},
    }
    learner, staff = UserFactory(), StaffFactory()
    course = course_with_lessons(3, title="Fuzzing 101")
    draft = course_with_lessons(1, title="Draft", is_published=False)
    enrollment = enrollment_create(student=learner, course=course)
    completed = completed_enrollment(learner=learner, title="Finished")
    certificate = certificate_issue(enrollment_id=completed.pk).certificate
    notification = notification_welcome(user=learner)
    announcement = announcement_create(course=course, subject="Welcome", body="Hello.")
    REAL_IDS.clear()
    REAL_IDS.update(
        course=[str(course.pk), str(draft.pk), str(completed.course_id)],
        enrollment=[str(enrollment.pk), str(completed.pk)],
        lesson=[str(pk) for pk in course.lessons.values_list("pk", flat=True)],
        certificate=[str(certificate.pk)],
        certificate_number=[certificate.certificate_number],
        notification=[str(notification.pk)],
        announcement=[str(announcement.pk)],
    )
    return {"learner": learner, "staff": staff}


@pytest.fixture
def caller_headers(caller, seeded):
    if caller == "anonymous":
        return {}
    credentials = {"email": seeded[caller].email, "password": DEFAULT_PASSWORD}
    access = APIClient().post("/api/auth/token/", credentials, format="json").json()["access"]
    return {"Authorization": f"Bearer {access}"}


def with_real_ids(path: str, parameters: dict) -> dict:
    """`parameters` with every one naming a seeded kind of row replaced by a real id."""
    collection = path.split("/")[2]  # /api/<collection>/...
    real = dict(parameters)
    for name in real:
        kind = (
            COLLECTIONS.get(collection)
            if name == "id"
            else {"lesson_id": "lesson", "course_id": "course"}.get(name, name)
        )
        if kind in REAL_IDS:
            real[name] = random.choice(REAL_IDS[kind])
    return real


@pytest.mark.parametrize("caller", ["anonymous", "learner", "staff"])
@schema.parametrize()
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases on every run: CI fails on a regression, not on luck
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_conforms_to_the_schema(case, caller_headers):
    # given a generated case, pointed at a real object half the time when its path is valid
    if case.path_parameters and not case.meta.is_negative_at(ParameterLocation.PATH) and random.random() < 0.5:
        case.path_parameters = with_real_ids(case.operation.path, case.path_parameters)

    # when it is sent, then the answer is documented and no 5xx (schemathesis' checks)
    case.call_and_validate(headers=caller_headers, excluded_checks=[positive_data_acceptance])
