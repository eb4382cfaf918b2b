"""One domain error type for every app, mapped to HTTP status codes in one place."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler


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
    """DRF's handler, taught our domain errors and Django's ValidationError."""
    if isinstance(exc, DomainError):
        exc = _DomainAPIException(exc)
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=as_serializer_error(exc))
    return exception_handler(exc, context)
