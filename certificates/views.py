"""The public verification page a scanned QR code opens (no frontend needed)."""

from django.shortcuts import render

from certificates import selectors
from certificates.api import verification


def verify_page(request, certificate_number: str):
    certificate = selectors.certificate_by_number(certificate_number=certificate_number)
    context = {
        "certificate_number": certificate_number,
        "certificate": verification(certificate) if certificate else None,
    }
    return render(request, "certificates/verify.html", context, status=200 if certificate else 404)
