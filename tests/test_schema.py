import pytest


@pytest.mark.django_db
def test_openapi_schema_lists_the_account_endpoints(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/auth/register/",
        "/api/auth/token/",
        "/api/auth/token/refresh/",
        "/api/auth/logout/",
        "/api/auth/verify-email/",
        "/api/auth/password-reset/",
        "/api/auth/password-reset/confirm/",
        "/api/me/",
    ):
        assert path in paths


@pytest.mark.django_db
def test_swagger_ui_is_served_with_its_own_assets(client):
    page = client.get("/api/docs/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    asset = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200


@pytest.mark.django_db
def test_schema_generates_without_warnings_and_validates(tmp_path):
    from django.core.management import call_command

    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    assert "/api/certificates/verify/{certificate_number}/" in target.read_text()


# fmt: off
DOCUMENTED = [
    # method, path,                                               every status code it documents
    ("post", "/api/auth/register/",                               {"201", "400", "415", "429"}),
    ("post", "/api/auth/token/",                                  {"200", "400", "401", "415", "429"}),
    ("get",  "/api/me/",                                          {"200", "401"}),
    ("get",  "/api/courses/",                                     {"200", "400", "401", "404"}),
    ("post", "/api/courses/{id}/enroll/",                         {"201", "401", "404", "409"}),
    ("post", "/api/courses/{id}/recalculate-progress/",           {"202", "401", "403", "404"}),
    ("get",  "/api/enrollments/",                                 {"200", "401", "404"}),
    ("post", "/api/enrollments/{id}/lessons/{lesson_id}/complete/", {"200", "401", "404", "409"}),
    ("post", "/api/certificates/{id}/revoke/",                    {"202", "400", "401", "403", "404", "415"}),
    ("get",  "/api/certificates/verify/{certificate_number}/",    {"200", "404", "429"}),
]
# fmt: on


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "codes"), DOCUMENTED)
def test_schema_documents_every_error_an_operation_can_answer(api_client, method, path, codes):
    # given the served schema
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    # when one operation's responses are read
    responses = schema["paths"][path][method]["responses"]

    # then its wiring's errors are there, each with the contract's JSON error body
    assert set(responses) == codes
    for code in codes - {"200", "201", "202"}:
        body = responses[code]["content"]["application/json"]["schema"]["$ref"]
        assert body.endswith("/ValidationError" if code == "400" else "/Error"), (code, body)
    if "429" in codes:
        assert "Retry-After" in responses["429"]["headers"]
