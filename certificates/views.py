"""The public verification page a scanned QR code opens (no frontend needed)."""

import math

from django.shortcuts import render

from certificates import selectors
from certificates.api import VerifyRateThrottle, verification


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
