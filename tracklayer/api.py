"""Shared pieces of the DRF API: the workspace-scoped base view, the policy permission, the
one exception handler that turns every error into ``{"error": {code, message, …}}``, the
error views Django uses under ``/v1/`` when no view answered (404, 500 …), and the schema
class that documents those errors on every operation."""

import re

from django.core.validators import RegexValidator
from django.http import JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, permissions, serializers
from rest_framework.exceptions import ErrorDetail as DrfErrorDetail
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from tracklayer.exceptions import DomainError
from workspaces import policy
from workspaces.models import ApiKey


class KeyRequired(permissions.BasePermission):
    """Any valid API key, whatever its role."""

    def has_permission(self, request, view) -> bool:
        if not isinstance(request.auth, ApiKey):
            raise exceptions.NotAuthenticated()
        return True


class PolicyPermission(KeyRequired):
    """A request needs an API key whose role allows the view's ``required_action``."""

    def has_permission(self, request, view) -> bool:
        super().has_permission(request, view)
        key = request.auth
        if not policy.can(key.role, view.required_action):
            raise exceptions.PermissionDenied(
                f"This key's role ({key.role}) does not allow {view.required_action}.",
                code="permission_denied",
            )
        return True


class WorkspaceApi(APIView):
    """Base for every workspace API. The workspace is the API key's — never from the request."""

    permission_classes = [PolicyPermission]
    required_action: policy.Action

    @property
    def workspace(self):
        return self.request.auth.workspace


API_PREFIX = "/v1/"


# --- The error body ---------------------------------------------------------------------------


class ErrorDetail(serializers.Serializer):
    code = serializers.CharField(help_text="Stable and machine-readable, e.g. `api_key_revoked`.")
    message = serializers.CharField(help_text="For people; may change.")
    field = serializers.CharField(
        required=False, help_text="The request field the error is about, where there is one."
    )
    fields = serializers.DictField(
        required=False,
        help_text="`invalid` only: each refused field → a list of `{message, code}` "
        "(nested objects follow the request's shape).",
    )


class ErrorResponse(serializers.Serializer):
    """Every error the API answers, whatever the status: ``{"error": {code, message, …}}``."""

    class Meta:
        ref_name = "Error"

    error = ErrorDetail()


# --- Strict input fields ----------------------------------------------------------------------
# DRF coerces: 0 becomes "0" in a CharField, "5" and 5.0 become 5 in an IntegerField. A JSON API
# that says "string" or "integer" in its schema refuses the other types instead, so what the
# schema refuses the server refuses too (and the schemathesis contract test holds us to it).


# Whitespace as JSON Schema's regular expressions (ECMA-262) read it; written as escapes that
# Python's ``re`` reads the same way, so the schema and the server draw one line.
ECMA_SPACE = (
    "\\t\\n\\u000b\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"
)
NUL_FREE = "^[^\\u0000]*$"
NON_BLANK = f"^[^\\u0000]*[^\\u0000{ECMA_SPACE}][^\\u0000]*$"
_NON_BLANK = re.compile(NON_BLANK)


class StrictCharField(serializers.CharField):
    """Text, taken as sent: never a number turned into text, never trimmed (DRF's trimming
    follows Python's idea of whitespace and would shorten a value after its length was
    checked against the schema's), and refused blank — nothing but whitespace — unless
    ``allow_blank``. The schema says the same (``ApiSchema``: NON_BLANK, NUL_FREE)."""

    def __init__(self, **kwargs):
        kwargs["trim_whitespace"] = False
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            data.encode("utf-8")  # a lone surrogate: PostgreSQL would refuse it later
        except UnicodeEncodeError:
            self.fail("invalid")
        if not self.allow_blank and "\x00" not in data and not _NON_BLANK.match(data):
            self.fail("blank")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class _EmptyIsGiven:
    """A query parameter given empty (``?since=``) is a value to check, not an absent one
    (DRF's way for form input): the schema has no empty value for it."""

    def get_value(self, dictionary):
        if dictionary.get(self.field_name) == "":
            return ""
        return super().get_value(dictionary)


class QueryIntegerField(_EmptyIsGiven, serializers.IntegerField):
    """An integer query parameter, as the schema says: digits only (DRF would take ``1.0``),
    and ``?limit=`` refused."""

    def to_internal_value(self, data):
        if not isinstance(data, str) or not re.fullmatch(r"-?[0-9]+", data):
            self.fail("invalid")
        return super().to_internal_value(data)


class QueryDateTimeField(_EmptyIsGiven, serializers.DateTimeField):
    """A date-time query parameter; ``?since=`` refused."""


class QueryCharField(_EmptyIsGiven, StrictCharField):
    """A text query parameter taken as sent; ``?before=`` refused unless ``allow_blank``."""


class QuerySerializer(serializers.Serializer):
    """Query parameters, each given once: Django would silently take the last of
    ``?index=1&index=2``, which the schema (one value, not a list) does not allow."""

    def to_internal_value(self, data):
        if hasattr(data, "getlist"):
            repeated = {
                name: [DrfErrorDetail("Give this parameter once.", code="repeated")]
                for name in self.fields
                if len(data.getlist(name)) > 1
            }
            if repeated:
                raise serializers.ValidationError(repeated)
        return super().to_internal_value(data)


def error_body(code: str, message: str, **extra) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


def exception_handler(exc, context):
    """DRF's errors and our domain errors as ``{"error": …}``, always rendered as JSON. Anything
    else is re-raised (``None``): Django logs it and answers through ``server_error`` below, in
    the same shape."""
    response = _error_response(exc, context)
    if response is not None:
        # The schema and docs views render YAML and HTML: their errors (a 405, say) are JSON
        # like every other error under /v1/. DRF renders with what the request negotiated.
        context["request"].accepted_renderer = JSONRenderer()
        context["request"].accepted_media_type = JSONRenderer.media_type
    return response


def _error_response(exc, context):
    if isinstance(exc, DomainError):
        body = error_body(exc.code, exc.message)
        if exc.field:
            body["error"]["field"] = exc.field
        return Response(body, status=exc.status)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(
            "invalid", "The request has invalid fields.", fields=_field_details(exc)
        )
        return response
    detail = exc.get_full_details() if isinstance(exc, exceptions.APIException) else None
    if isinstance(detail, dict) and "code" in detail and "message" in detail:
        response.data = error_body(str(detail["code"]), str(detail["message"]))
    else:
        response.data = error_body("error", str(getattr(exc, "detail", exc)))
    return response


def _field_details(exc: exceptions.ValidationError) -> dict:
    details = exc.get_full_details()
    # A serializer's errors are a dict of fields; a bare ``raise ValidationError`` is a list.
    return details if isinstance(details, dict) else {"non_field_errors": details}


# --- Errors no view answered: Django's handlers, JSON under /v1/ ---------------------------------
# Django calls these (as ``handler404`` … in ``tracklayer.urls``) when DEBUG is off: for a URL
# no pattern matches, or an exception no view handled. An API client must get the same
# ``{"error": …}`` JSON as from the views, never the dashboard's HTML pages; the exception has
# been logged (and sent to ``got_request_exception``) by Django before the 500 handler runs.


def _is_api(request) -> bool:
    return request.path_info.startswith(API_PREFIX)


def bad_request(request, exception, template_name="400.html"):
    if _is_api(request):
        return JsonResponse(error_body("bad_request", "The request could not be read."), status=400)
    return defaults.bad_request(request, exception, template_name)


def permission_denied(request, exception, template_name="403.html"):
    if _is_api(request):
        return JsonResponse(
            error_body("permission_denied", "This request is not allowed."), status=403
        )
    return defaults.permission_denied(request, exception, template_name)


def page_not_found(request, exception, template_name="404.html"):
    if _is_api(request):
        return unknown_path(request)
    return defaults.page_not_found(request, exception, template_name)


@csrf_exempt
def unknown_path(request):
    """The last route under /v1/: a path no API has, answered like any other API 404 — also
    with DEBUG on, where Django would otherwise show its HTML page listing every route."""
    return JsonResponse(
        error_body("not_found", "There is no such API path; see /v1/docs."), status=404
    )


def server_error(request, template_name="500.html"):
    if _is_api(request):
        return JsonResponse(
            error_body("server_error", "Something went wrong on our side; it has been logged."),
            status=500,
        )
    return defaults.server_error(request, template_name)


# --- The schema: the errors every operation can answer --------------------------------------------


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorResponse, description=description)


UNAUTHENTICATED = _error(
    "No key, or a malformed, invalid, revoked or expired one (`api_key_missing`, "
    "`api_key_malformed`, `api_key_invalid`, `api_key_revoked`, `api_key_expired`)."
)
THROTTLED = _error(
    "Too many failed key attempts from this address or for this key prefix "
    "(`api_key_throttled`); wait for `Retry-After` seconds."
)
FORBIDDEN = _error("The key's role does not allow this operation (`permission_denied`).")
INVALID = _error(
    "The request cannot be read or has invalid fields (`parse_error`, `invalid`, or a code "
    "naming the problem, with `field`)."
)
UNSUPPORTED_MEDIA_TYPE = _error("The body is not `application/json` (`unsupported_media_type`).")
SERVER_ERROR = _error("Never expected: the body shape if it happens (`server_error`).")


# Headers the shared answers always carry.
RETRY_AFTER = {
    "schema": {"type": "integer", "minimum": 0},
    "required": True,
    "description": "Seconds to wait before trying again.",
}
WWW_AUTHENTICATE = {
    "schema": {"type": "string"},
    "required": True,
    "description": '`Bearer realm="tracklayer"`',
}


class ApiSchema(AutoSchema):
    """drf-spectacular's schema, plus the error answers the shared machinery sends — so an
    operation documents its own answers and nothing it can send goes undocumented."""

    def get_auth(self):
        if getattr(self.view, "needs_key", False):
            # Ingestion checks the key itself (also ``writeKey`` in the body, see each
            # operation's description): Bearer or Basic, either one.
            return [{"ApiKey": []}, {"ApiKeyBasic": []}]
        auths = []
        for auth in super().get_auth():  # SECURITY repeats what the extension declared
            if auth not in auths:
                auths.append(auth)
        return auths

    def _get_request_body(self, direction="request"):
        body = super()._get_request_body(direction)
        if body is not None and getattr(self.view, "body_required", False):
            body["required"] = True  # no field is required, but some body is
        return body

    def _get_response_headers_for_code(self, status_code, direction="response"):
        headers = super()._get_response_headers_for_code(status_code, direction)
        if str(status_code) == "429":
            headers.setdefault("Retry-After", RETRY_AFTER)
        elif str(status_code) == "401":
            headers.setdefault("WWW-Authenticate", WWW_AUTHENTICATE)
        return headers

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and schema.get("type") == "string"
            and "pattern" not in schema
            # A field's own regular expression (RegexField …) is its pattern.
            and not any(isinstance(v, RegexValidator) for v in field.validators)
        ):
            # DRF refuses NUL in every CharField (ProhibitNullCharactersValidator); a strict
            # one refuses blank text too.
            strict_non_blank = isinstance(field, StrictCharField) and not field.allow_blank
            schema["pattern"] = NON_BLANK if strict_non_blank else NUL_FREE
        return schema

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        for name, prop in schema.get("properties", {}).items():
            # drf-spectacular writes a blank-allowed text with a pattern as
            # oneOf [pattern, ""], and "" then matches both (invalid under oneOf); NUL_FREE
            # admits "" already, so the pattern alone says it.
            one_of = prop.get("oneOf")
            if (
                one_of
                and len(one_of) == 2
                and one_of[1] == {"type": "string", "maxLength": 0}
                and one_of[0].get("pattern") == NUL_FREE
                and "minLength" not in one_of[0]
                and "format" not in one_of[0]
            ):
                schema["properties"][name] = {
                    **{k: v for k, v in prop.items() if k != "oneOf"},
                    **one_of[0],
                }
        return schema

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status, response in self._common_errors().items():
            responses.setdefault(
                str(status), self._get_response_for_code(response, str(status), None, direction)
            )
        return responses

    def _common_errors(self) -> dict:
        errors = {}
        permission_classes = [type(p) for p in self.view.get_permissions()]
        checks_role = getattr(self.view, "needs_key", False) or any(
            issubclass(p, PolicyPermission) for p in permission_classes
        )
        if checks_role or any(issubclass(p, KeyRequired) for p in permission_classes):
            errors[401] = UNAUTHENTICATED
            errors[429] = THROTTLED
        if checks_role:
            errors[403] = FORBIDDEN
        if self.method in {"POST", "PUT", "PATCH"} and self._get_request_body() is not None:
            errors[400] = INVALID
            if not getattr(self.view, "reads_raw_body", False):
                errors[415] = UNSUPPORTED_MEDIA_TYPE
        elif any(parameter["in"] == "query" for parameter in self._get_parameters()):
            errors[400] = INVALID
        errors[500] = SERVER_ERROR
        return errors
