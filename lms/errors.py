"""One domain error type for every app, mapped to HTTP status codes in one place."""

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """A business rule said no. `field` names the input at fault, if one is."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    status_code = status.HTTP_400_BAD_REQUEST


class NotFound(DomainError):
    status_code = status.HTTP_404_NOT_FOUND


class Forbidden(DomainError):
    status_code = status.HTTP_403_FORBIDDEN


class Conflict(DomainError):
    status_code = status.HTTP_409_CONFLICT


class _DomainAPIException(exceptions.APIException):
    def __init__(self, error: DomainError):
        self.status_code = error.status_code
        detail = {error.field: [error.message]} if error.field else {"detail": error.message}
        super().__init__(detail=detail)


def api_exception_handler(exc, context):
    """DRF's handler, taught our domain errors, Django's ValidationError and DataError."""
    if isinstance(exc, DomainError):
        exc = _DomainAPIException(exc)
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=as_serializer_error(exc))
    elif isinstance(exc, DataError):
        # A value the database cannot store or compare (a NUL character in a text column, a
        # number out of range): the input was bad, so 400, never 500. Logged with its traceback
        # so a value that should have been validated earlier is still noticed.
        logger.warning("Input the database refused: %s", exc, exc_info=exc)
        exc = exceptions.ValidationError({"detail": "The input contains a value that cannot be stored or searched."})
    response = exception_handler(exc, context)
    if response is not None and isinstance(response.data, list):
        # A ValidationError raised outside a serializer (e.g. DRF's SearchFilter refusing a NUL
        # character) renders as a bare list; the contract's shapes are objects.
        response.data = {"detail": " ".join(str(message) for message in response.data)}
    return response


# --- Django's own error pages (no DRF view was reached), JSON under /api/ -------------------
# An /api/ URL that matches no route (a malformed id, a typo) or a request Django refuses before
# routing answers in the API's JSON error shape; the rest of the site keeps HTML pages.


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def bad_request(request, exception):
    if _is_api(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return defaults.bad_request(request, exception)


def not_found(request, exception):
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _is_api(request):
        return JsonResponse({"detail": "Server error."}, status=500)
    return defaults.server_error(request)
