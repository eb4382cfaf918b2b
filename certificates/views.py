"""Public certificate pages: the verification page a scanned QR code opens (no frontend
needed) and the PDF behind the certificate e-mail's signed link (no sign-in needed)."""

import math

from django.http import FileResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from certificates import selectors
from certificates.api import VerifyRateThrottle, verification
from certificates.services import certificate_from_download_token, certificate_verify_url
from lms.errors import InvalidInput
from lms.pages import message_page


def verify_page(request, certificate_number: str):
    # The same throttle, scope and budget as the JSON twin (GET /api/certificates/verify/<n>/):
    # switching between them does not buy an enumerator more lookups.
    throttle = VerifyRateThrottle()
    if not throttle.allow_request(request, None):
        retry_after = math.ceil(throttle.wait() or 1)
        response = render(
            request,
            "certificates/verify.html",
            {"certificate_number": certificate_number, "throttled": True, "retry_after": retry_after},
            status=429,
        )
        response["Retry-After"] = str(retry_after)
        return response
    certificate = selectors.certificate_by_number(certificate_number=certificate_number)
    context = {
        "certificate_number": certificate_number,
        "certificate": verification(certificate) if certificate else None,
    }
    return render(request, "certificates/verify.html", context, status=200 if certificate else 404)


@require_safe
def download_page(request, token: str):
    """The PDF, opened in the browser. Only reads; a bad or expired link -> 400, revoked -> 410."""
    try:
        certificate = certificate_from_download_token(token=token)
    except InvalidInput as error:
        return message_page(
            request, status=400, title="This link does not work", message=error.message, badge="Link not valid",
            tone="error", hint="The PDF stays in your account: signed in, GET /api/certificates/ lists it.",
        )  # fmt: skip
    if certificate.is_revoked:
        verify_url = certificate_verify_url(certificate_number=certificate.certificate_number)
        return message_page(
            request, status=410, title="This certificate was revoked", badge="Revoked", tone="revoked",
            message=f"Certificate {certificate.certificate_number} was revoked; its PDF is no longer offered.",
            link=(verify_url, "See its verification page"),
        )  # fmt: skip
    if not certificate.pdf or not certificate.pdf.storage.exists(certificate.pdf.name):
        return message_page(
            request, status=404, title="The PDF is not available", badge="Not available", tone="error",
            message="The PDF of this certificate is not in storage right now; staff can regenerate it.",
        )  # fmt: skip
    return FileResponse(
        certificate.pdf.open("rb"), content_type="application/pdf", filename=f"{certificate.certificate_number}.pdf"
    )
