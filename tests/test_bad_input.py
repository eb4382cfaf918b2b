"""No input produces a 500: malformed, hostile or merely odd requests are refused with a 4xx in
the contract's JSON error shape (regressions from fuzzing the API, see test_api_conformance)."""

import pytest

from certificates.services import certificate_issue
from tests.certificates.helpers import completed_enrollment

pytestmark = pytest.mark.django_db

REGISTER = "/api/auth/register/"
COURSES = "/api/courses/"


def full_name(value: str) -> str:
    """A registration body, valid but for `full_name`, given as raw JSON."""
    return '{"email": "ada@example.com", "password": "correct-horse-battery-9", "full_name": ' + value + "}"


HUGE_NUMBER = "1" + "0" * 5000  # past Python's 4300-digit limit for int()
TOO_BIG = full_name('"' + "x" * 2_700_000 + '"')  # over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB)
LONG = full_name('"' + "x" * 100_000 + '"')
VERIFY = "/api/certificates/verify/"
HUGE_PAGE = COURSES + "?page=" + HUGE_NUMBER
NON_FIELD = "non_field_errors"

# fmt: off
BAD_INPUT = [
    # what                         method  path                     body                              status in error
    ("deeply nested JSON",         "post", REGISTER,                "[" * 100_000,                    400, "detail"),
    ("a body over the limit",      "post", REGISTER,                TOO_BIG,                          400, "detail"),
    ("not JSON",                   "post", REGISTER,                "{email",                         400, "detail"),
    ("not UTF-8",                  "post", REGISTER,                b"\xff\xfe{}",                    400, "detail"),
    ("NaN",                        "post", REGISTER,                '{"email": NaN}',                 400, "detail"),
    ("a 5000-digit number",        "post", REGISTER,                '{"email": ' + HUGE_NUMBER + "}", 400, "detail"),
    ("a list, not an object",      "post", REGISTER,                "[]",                             400, NON_FIELD),
    ("NUL in a string",            "post", REGISTER,                full_name('"A\\u0000"'),          400, "full_name"),
    ("a lone surrogate",           "post", REGISTER,                full_name('"\\ud800"'),           400, "full_name"),
    ("a number for text",          "post", REGISTER,                full_name("352463"),              400, "full_name"),
    ("an object for text",         "post", REGISTER,                full_name('{"a": 1}'),            400, "full_name"),
    ("a 100 000-character string", "post", REGISTER,                LONG,                             400, "full_name"),
    ("NUL in the search",          "get",  COURSES + "?search=%00", None,                             400, "detail"),
    ("an empty page number",       "get",  COURSES + "?page=",      None,                             404, "detail"),
    ("a word for a page number",   "get",  COURSES + "?page=last",  None,                             404, "detail"),
    ("a 5000-digit page number",   "get",  HUGE_PAGE,               None,                             404, "detail"),
    ("SQL for an id",              "get",  COURSES + "1 OR 1=1/",   None,                             404, "detail"),
    ("NUL in a path parameter",    "get",  VERIFY + "LMS%00/",      None,                             404, "detail"),
]
# fmt: on


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "key"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_INPUT],
)
def test_bad_input_is_refused_with_a_json_4xx(api_client, method, path, body, status, key):
    # given a request no client should send
    if body is not None:
        body = body.encode() if isinstance(body, str) else body

    # when it reaches the API
    response = getattr(api_client, method)(path, body, content_type="application/json")

    # then a 4xx in the contract's JSON shape, never a 500
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert key in response.json()


def test_bad_input_number_for_the_revoke_reason_is_refused_and_nothing_is_revoked(
    staff_client, django_capture_on_commit_callbacks
):
    # given an issued certificate
    certificate = certificate_issue(enrollment_id=completed_enrollment().pk).certificate

    # when staff sends a number as the reason
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/api/certificates/{certificate.pk}/revoke/", {"reason": 42}, format="json")

    # then it is refused, not quietly turned into the text "42"
    assert response.status_code == 400
    assert "reason" in response.json()
    certificate.refresh_from_db()
    assert not certificate.is_revoked
