"""The certificate e-mail's PDF link: signed, expiring, no sign-in, never a revoked certificate."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from certificates.services import certificate_download_link, certificate_issue, certificate_revoke
from tests.certificates.helpers import completed_enrollment

pytestmark = pytest.mark.django_db


def path_of(link: str, settings) -> str:
    assert link.startswith(settings.FRONTEND_URL)
    return link.removeprefix(settings.FRONTEND_URL)


@pytest.fixture
def certificate():
    return certificate_issue(enrollment_id=completed_enrollment().pk).certificate


def test_download_link_serves_the_pdf_without_signing_in(client, certificate, settings):
    response = client.get(path_of(certificate_download_link(certificate=certificate), settings))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert f'filename="{certificate.certificate_number}.pdf"' in response["Content-Disposition"]
    assert b"".join(response.streaming_content).startswith(b"%PDF")


def test_download_link_expires(client, certificate, settings):
    with time_machine.travel(timezone.now() - timedelta(seconds=settings.CERTIFICATE_LINK_MAX_AGE + 60)):
        link = certificate_download_link(certificate=certificate)

    response = client.get(path_of(link, settings))

    assert response.status_code == 400
    assert "expired" in response.content.decode()


@pytest.mark.parametrize("token", ["nonsense", "3f1c0000-0000-0000-0000-000000000000:1abcde:forged", "a" * 3000])
def test_forged_download_link_is_a_400_page(client, certificate, token):
    response = client.get(f"/certificates/download/{token}/")

    assert response.status_code == 400
    assert "not valid" in response.content.decode()


def test_tampered_download_link_for_another_certificate_is_refused(client, certificate, settings):
    link = path_of(certificate_download_link(certificate=certificate), settings)
    other = certificate_issue(enrollment_id=completed_enrollment().pk).certificate
    forged = link.replace(str(certificate.pk), str(other.pk))

    assert client.get(forged).status_code == 400


def test_download_link_of_a_revoked_certificate_is_gone(client, certificate, settings):
    link = path_of(certificate_download_link(certificate=certificate), settings)
    certificate_revoke(certificate_id=certificate.pk, reason="Issued in error")

    response = client.get(link)

    assert response.status_code == 410
    assert "revoked" in response.content.decode()
    assert f"/certificates/verify/{certificate.certificate_number}/" in response.content.decode()


def test_download_link_whose_pdf_is_missing_is_a_404_page(client, certificate, settings):
    certificate.pdf.storage.delete(certificate.pdf.name)

    response = client.get(path_of(certificate_download_link(certificate=certificate), settings))

    assert response.status_code == 404
    assert "not available" in response.content.decode()
