"""lms.errors: every error the API gives is JSON in the contract's shapes, never a 500."""

import json

import pytest
from django.db import DataError
from django.test import RequestFactory
from rest_framework import exceptions

from courses.models import Course
from lms.errors import api_exception_handler, bad_request, not_found, server_error


def test_api_exception_handler_answers_a_database_data_error_with_400(db):
    # given a value PostgreSQL refuses to compare (a NUL character in text)
    with pytest.raises(DataError) as refused:
        Course.objects.filter(title="nul\x00").exists()

    # when it reaches the API's exception handler
    response = api_exception_handler(refused.value, {})

    # then bad input, not a server error
    assert response.status_code == 400
    assert set(response.data) == {"detail"}


def test_api_exception_handler_turns_a_bare_list_of_messages_into_detail():
    # given a ValidationError raised outside a serializer, as DRF's SearchFilter does
    error = exceptions.ValidationError("Null characters are not allowed.")

    # when it is handled
    response = api_exception_handler(error, {})

    # then the body is an object like every other error, not a list
    assert response.status_code == 400
    assert response.data == {"detail": "Null characters are not allowed."}


@pytest.mark.parametrize(
    ("handler", "status"),
    [
        (lambda request: bad_request(request, Exception()), 400),
        (lambda request: not_found(request, Exception()), 404),
        (server_error, 500),
    ],
)
def test_django_error_pages_are_json_under_api_and_html_elsewhere(handler, status):
    api = handler(RequestFactory().get("/api/anything/"))
    site = handler(RequestFactory().get("/certificates/verify/x/"))

    assert (api.status_code, site.status_code) == (status, status)
    assert api["Content-Type"] == "application/json"
    assert set(json.loads(api.content)) == {"detail"}
    assert site["Content-Type"].startswith("text/html")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["/api/no-such-endpoint/", "/api/enrollments/not-a-uuid/", "/api/certificates/verify/not a number/"],
)
def test_unrouted_api_urls_answer_json_404(client, path):
    response = client.get(path)

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
