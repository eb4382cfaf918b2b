"""Certificates API: every status code of the contract, owner/staff/other/anonymous."""

import pytest

from certificates import services
from tests.certificates.helpers import completed_enrollment, pdf_text
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

FIELDS = {
    "id", "certificate_number", "course", "learner_name", "issued_at", "is_revoked", "revoked_at",
    "download_url", "verify_url",
}  # fmt: skip


@pytest.fixture
def certificate(learner):
    return services.certificate_issue(enrollment_id=completed_enrollment(learner=learner).pk).certificate


def test_list_and_detail_for_the_owner(learner_client, certificate, settings):
    listing = learner_client.get("/api/certificates/")
    detail = learner_client.get(f"/api/certificates/{certificate.pk}/")

    assert listing.status_code == detail.status_code == 200
    assert [c["id"] for c in listing.json()["results"]] == [str(certificate.pk)]
    body = detail.json()
    assert set(body) == FIELDS
    assert body["course"] == {"id": str(certificate.enrollment.course_id), "title": "Reliable Background Jobs"}
    assert body["verify_url"] == f"{settings.FRONTEND_URL}/certificates/verify/{certificate.certificate_number}/"
    assert body["download_url"].endswith(f"/api/certificates/{certificate.pk}/download/")


def test_enrollment_shows_its_certificate(learner_client, certificate):
    body = learner_client.get(f"/api/enrollments/{certificate.enrollment_id}/").json()

    assert body["certificate"] == {"id": str(certificate.pk), "certificate_number": certificate.certificate_number}


def test_download_is_a_pdf_for_owner_and_staff(learner_client, staff_client, certificate):
    for client in (learner_client, staff_client):
        response = client.get(f"/api/certificates/{certificate.pk}/download/")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert f"{certificate.certificate_number}.pdf" in response["Content-Disposition"]
        assert certificate.certificate_number in pdf_text(b"".join(response.streaming_content))


def test_another_learner_gets_404_everywhere(other_learner, certificate):
    client = client_for(other_learner)

    assert client.get(f"/api/certificates/{certificate.pk}/").status_code == 404
    assert client.get(f"/api/certificates/{certificate.pk}/download/").status_code == 404
    assert client.get("/api/certificates/").json()["count"] == 0


def test_staff_can_open_but_their_list_is_their_own(staff_client, certificate):
    assert staff_client.get(f"/api/certificates/{certificate.pk}/").status_code == 200
    assert staff_client.get("/api/certificates/").json()["count"] == 0


def test_anonymous_is_401(api_client, certificate):
    assert api_client.get("/api/certificates/").status_code == 401
    assert api_client.get(f"/api/certificates/{certificate.pk}/download/").status_code == 401


def test_unknown_certificate_is_404(learner_client):
    assert learner_client.get("/api/certificates/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert learner_client.get("/api/certificates/not-a-uuid/download/").status_code == 404


def test_missing_pdf_file_is_404_not_500(learner_client, certificate):
    certificate.pdf.storage.delete(certificate.pdf.name)

    response = learner_client.get(f"/api/certificates/{certificate.pk}/download/")

    assert response.status_code == 404
    assert "regenerate" in response.json()["detail"]


def test_public_verification_and_revocation(api_client, staff_client, certificate, django_capture_on_commit_callbacks):
    url = f"/api/certificates/verify/{certificate.certificate_number}/"
    valid = api_client.get(url)
    assert valid.status_code == 200
    assert valid.json() == {
        "certificate_number": certificate.certificate_number,
        "valid": True,
        "learner_name": certificate.learner_name,
        "course_title": "Reliable Background Jobs",
        "issued_at": certificate.issued_at.isoformat().replace("+00:00", "Z"),
        "revoked_at": None,
    }

    with django_capture_on_commit_callbacks(execute=True):
        revoke = staff_client.post(f"/api/certificates/{certificate.pk}/revoke/", {"reason": "Fraud"}, format="json")

    assert revoke.status_code == 202
    assert set(revoke.json()) == {"task_id", "status_url"}
    revoked = api_client.get(url).json()
    assert revoked["valid"] is False and revoked["revoked_at"] is not None
    assert api_client.get(f"/certificates/verify/{certificate.certificate_number}/").content.decode().count("Revoked")


def test_verify_unknown_number_is_404(api_client):
    assert api_client.get("/api/certificates/verify/LMS-2026-XXXX-XXXX/").status_code == 404


def test_revoke_is_staff_only_and_needs_a_reason(api_client, learner_client, staff_client, certificate):
    url = f"/api/certificates/{certificate.pk}/revoke/"

    assert api_client.post(url, {"reason": "x"}, format="json").status_code == 401
    assert learner_client.post(url, {"reason": "x"}, format="json").status_code == 403
    assert staff_client.post(url, {}, format="json").status_code == 400
    unknown = "/api/certificates/00000000-0000-0000-0000-000000000000/revoke/"
    assert staff_client.post(unknown, {"reason": "x"}, format="json").status_code == 404
    certificate.refresh_from_db()
    assert not certificate.is_revoked


def test_public_page_shows_learner_course_and_state(client, certificate):
    page = client.get(f"/certificates/verify/{certificate.certificate_number}/")
    unknown = client.get("/certificates/verify/LMS-2026-NOPE-NOPE/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "Valid certificate" in html and certificate.learner_name in html and "Reliable Background Jobs" in html
    assert unknown.status_code == 404
    assert "Unknown certificate" in unknown.content.decode()


def test_public_page_escapes_learner_supplied_text(client, learner):
    learner.full_name = "<script>alert(1)</script>"
    learner.save()
    certificate = services.certificate_issue(enrollment_id=completed_enrollment(learner=learner).pk).certificate

    html = client.get(f"/certificates/verify/{certificate.certificate_number}/").content.decode()

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_verify_is_throttled(api_client, settings, certificate):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "certificate_verify": "2/min"},
    }
    url = f"/api/certificates/verify/{certificate.certificate_number}/"

    codes = [api_client.get(url).status_code for _ in range(3)]

    assert codes == [200, 200, 429]
