"""The OpenAPI schema's error responses, documented for every operation in one place.

Views declare their success responses and any error that only their business rules produce
(e.g. 409 on enroll). Everything an operation can answer because of how it is wired — bad
input, missing or bad credentials, a staff-only permission, an unknown id or page, throttling —
follows from the view and is added here, so the schema cannot drift from the code: the
schemathesis run in tests/test_api_conformance.py fails on any status code not documented.
Every error body is DRF's shape (API.md): `{"detail": "..."}` or `{"field": ["message"]}`.
"""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import permissions
from rest_framework_simplejwt.views import TokenViewBase

ERROR_SCHEMA = {
    "type": "object",
    "description": "DRF's error shape: a human-readable `detail` (plus, for token errors, a `code`).",
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    "required": ["detail"],
}
VALIDATION_ERROR_SCHEMA = {
    "type": "object",
    "description": (
        'Invalid input: `{"field": ["message"]}` per bad field (`non_field_errors` for the whole '
        'body), or `{"detail": "..."}` when the body could not be read at all.'
    ),
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}
RETRY_AFTER_HEADER = {
    "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds until the next request is allowed."}
}

DESCRIPTIONS = {
    "400": "Invalid input.",
    "401": "Not authenticated: credentials missing, wrong, expired or revoked.",
    "403": "Not allowed (staff only).",
    "404": "Not found: an unknown id (or one that is not yours), or a page past the end.",
    "409": "Conflict with the current state.",
    "415": "Unsupported media type: send JSON.",
    "429": "Throttled: too many requests from this client.",
}
# Permission classes whose refusal is "not authenticated" (401), never "not allowed" (403).
AUTHENTICATION_ONLY = (permissions.AllowAny, permissions.IsAuthenticated)


class AutoSchema(SpectacularAutoSchema):
    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses = operation["responses"]
        for code in self._error_codes(operation):
            responses.setdefault(code, {"description": DESCRIPTIONS[code]})
        for code, response in responses.items():
            if code.startswith("4") and "content" not in response:
                response["content"] = {"application/json": {"schema": self._error_component(code)}}
                response["description"] = response.get("description") or DESCRIPTIONS.get(code, "")
                if code == "429":
                    response["headers"] = RETRY_AFTER_HEADER
        return operation

    def _error_codes(self, operation: dict) -> list[str]:
        paginated = self.method == "GET" and self._is_list_view() and self._get_paginator() is not None
        page = self._get_paginator().page_query_param if paginated else None
        # A page number is not input to validate: a bad one is 404 (DRF's "Invalid page.").
        query = [p for p in operation.get("parameters", []) if p["in"] == "query" and p["name"] != page]
        codes = []
        if "requestBody" in operation or query:
            codes.append("400")
        if any(requirement for requirement in operation.get("security", [])) or isinstance(self.view, TokenViewBase):
            codes.append("401")  # a bad bearer token is refused even where none is needed
        if any(not isinstance(p, AUTHENTICATION_ONLY) for p in self.view.get_permissions()):
            codes.append("403")
        if "{" in self.path or paginated:
            codes.append("404")  # an unknown or not-yours id; a page past the end
        if "requestBody" in operation:
            codes.append("415")
        if self.view.get_throttles():
            codes.append("429")
        return codes

    def _error_component(self, code: str) -> dict:
        name, schema = ("ValidationError", VALIDATION_ERROR_SCHEMA) if code == "400" else ("Error", ERROR_SCHEMA)
        component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema)
        self.registry.register_on_missing(component)
        return component.ref
