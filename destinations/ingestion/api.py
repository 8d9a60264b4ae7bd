"""The ingestion API: native ``/v1/events`` and Segment's HTTP tracking API.

Thin: read the body (size-capped, gzip), parse it, find the key (Authorization header, or
``writeKey`` in the body, as browser SDKs send it), call ``event_ingest`` and answer. Browser
SDKs call these endpoints cross-origin, so they answer CORS preflights.
"""

import zlib

import orjson
from django.conf import settings
from django.db import transaction
from django.http import HttpResponse
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from destinations.exceptions import InvalidBodyError, PayloadTooLargeError, RateLimitedError
from destinations.ingestion import selectors
from destinations.ingestion.envelope import MESSAGE_ID_MAX, NAME_MAX, TYPES, body_json
from destinations.ingestion.services import WorkspaceMovingError, event_ingest
from tracklayer.api import ErrorResponse, WorkspaceApi
from tracklayer.exceptions import DomainError, PermissionDeniedError
from workspaces import policy
from workspaces.auth.api_keys import api_key_authenticate, token_from_header
from workspaces.auth.throttle import client_address
from workspaces.exceptions import ApiKeyError, ApiKeyMissingError, ApiKeyThrottledError

# What the browser SDKs send and read, by their source. A header missing from the allow list
# makes the browser refuse the request itself (the SDK sees a network error, and its retries
# carry X-Retry-Count, so every retry failed the same way); one missing from the expose list
# is invisible to the SDK's script. Both lists are checked by tests/e2e/test_browser_sdk.py
# with the real analytics.js.
# - segmentio/analytics-next (@segment/analytics-next, packages/browser/src/plugins/segmentio/):
#   shared-dispatcher.ts `createHeaders` (Content-Type: text/plain), fetch-dispatcher.ts and
#   batched-dispatcher.ts (Authorization: Basic <writeKey:>, X-Retry-Count on every retry);
#   it reads Retry-After on a 429 (shared-dispatcher.ts `parseRetryAfter`, 1.84+) and, before
#   1.84, X-RateLimit-Reset (fetch-dispatcher.ts, batched-dispatcher.ts).
# - rudderlabs/rudder-sdk-js: v3 packages/analytics-js/src/services/HttpClient/xhr/
#   xhrRequestHandler.ts (Accept, Content-Type: application/json, Authorization) and
#   packages/analytics-js-plugins/src/xhrQueue/ (index.ts: AnonymousId; utilities.ts
#   `getRequestInfo`: SentAt, Rsa-Recovered and the Rsa-Retry-*/Rsa-Since-* retry headers);
#   v1.1 packages/analytics-v1.1/src/utils/xhrModule.js (AnonymousId). It reads no header.
# - Content-Encoding: gzip, which our own API accepts (server-side senders, custom clients).
CORS_ALLOW_HEADERS = (
    "Accept",
    "Authorization",
    "Content-Type",
    "Content-Encoding",
    "X-Retry-Count",
    "AnonymousId",
    "SentAt",
    "Rsa-Recovered",
    "Rsa-Retry-Attempt",
    "Rsa-Retry-Reason",
    "Rsa-Since-First-Attempt",
    "Rsa-Since-Last-Attempt",
)
CORS_EXPOSE_HEADERS = ("Retry-After", "X-RateLimit-Reset")
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": ", ".join(CORS_ALLOW_HEADERS),
    "Access-Control-Expose-Headers": ", ".join(CORS_EXPOSE_HEADERS),
    "Access-Control-Max-Age": "86400",
}


def _json(body: dict, status: int, **headers) -> HttpResponse:
    response = HttpResponse(orjson.dumps(body), status=status, content_type="application/json")
    for name, value in {**CORS_HEADERS, **headers}.items():
        response[name] = value
    return response


def _error(error: DomainError, **headers) -> HttpResponse:
    body = {"error": {"code": error.code, "message": error.message}}
    if error.field:
        body["error"]["field"] = error.field
    return _json(body, error.status, **headers)


def _body(request) -> bytes:
    """The request body, decompressed, refused past the hard cap (before any parsing)."""
    cap = settings.INGEST_MAX_REQUEST_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > cap:
        raise PayloadTooLargeError(f"The request is {declared:,} bytes; the limit is {cap:,}.")
    raw = request.read(cap + 1)
    if len(raw) > cap:
        raise PayloadTooLargeError(f"The request is over the limit of {cap:,} bytes.")
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    if encoding in {"", "identity"}:
        return raw
    if encoding != "gzip":
        raise InvalidBodyError(
            f"Content-Encoding {encoding!r} is not supported; send gzip or nothing.",
            code="unsupported_encoding",
        )
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(raw, cap + 1)
    except zlib.error:
        raise InvalidBodyError("The body is not valid gzip.", code="invalid_gzip") from None
    if len(body) > cap or inflater.unconsumed_tail:
        raise PayloadTooLargeError(f"The decompressed request is over {cap:,} bytes.")
    if not inflater.eof:
        raise InvalidBodyError("The gzip body is truncated.", code="invalid_gzip")
    return body


def _key(request, payload: dict):
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        token = token_from_header(header)
    else:
        token = payload.get("writeKey") if isinstance(payload, dict) else None
        if not token and isinstance(payload, dict) and isinstance(payload.get("batch"), list):
            first = payload["batch"][0] if payload["batch"] else None
            token = first.get("writeKey") if isinstance(first, dict) else None
        if not isinstance(token, str) or not token:
            raise ApiKeyMissingError(
                "Send the write key as 'Authorization: Bearer <key>', as the Basic user name, "
                "or as writeKey in the body."
            )
    # The throttle on failed key attempts counts per address (workspaces/auth/throttle.py).
    key = api_key_authenticate(token, client_ip=client_address(request))
    if not policy.can(key.role, policy.Action.EVENTS_SEND):
        raise PermissionDeniedError(f"This key's role ({key.role}) cannot send events.")
    return key


def _client_ip(request) -> str | None:
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR") if settings.INGEST_TRUST_PROXY else None
    if forwarded:
        return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR")


# Accept values under which DRF's content negotiation picks our one renderer (JSON) for sure.
_JSON_RANGES = frozenset({"*/*", "application/*", "application/json"})


def _negotiates_json(request) -> bool:
    """True when DRF would accept this request's ``Accept`` and query as they are: no
    ``?format=`` override, and no Accept header or one naming JSON or anything (exactly,
    without parameters). Anything else is left to DRF to negotiate (a 406 or a 404)."""
    if "format=" in request.META.get("QUERY_STRING", ""):
        return False
    accept = request.META.get("HTTP_ACCEPT")
    return not accept or any(part.strip() in _JSON_RANGES for part in accept.split(","))


class IngestApi(APIView):
    """Shared by every ingestion path; subclasses say what a body holds. Not wrapped in the
    request transaction: the events are committed by the group-commit writer (ADR 0008), and
    a request must not hold a transaction open while it waits for that commit."""

    authentication_classes: list = []
    permission_classes: list = []
    kind: str | None = None  # the event type the path implies
    source = "segment"
    batch_only = False
    # For the schema (tracklayer.api.ApiSchema): keys are checked here, not by DRF, and the
    # body is read raw (any content type: browsers send text/plain).
    needs_key = True
    reads_raw_body = True
    body_required = True

    # Marked on the method itself (as_view copies the mark to the view), not wrapped by
    # method_decorator, whose wrapper rebuilt a bound method on every request.
    @transaction.non_atomic_requests
    def dispatch(self, request, *args, **kwargs):
        """POST and OPTIONS, the SDKs' calls, are answered without DRF's request machinery
        (the Request wrapper, content negotiation, the empty authentication, permission and
        throttle passes): these views read the raw body, check the key themselves and answer
        every domain error in the envelope, so DRF's steps decide nothing for them. The answer
        gets the headers DRF's ``finalize_response`` would add (``Allow``);
        tests/tracklayer/test_ingestion_dispatch.py requires the same bytes as through DRF.
        Another method, ``?format=`` or an ``Accept`` that is not plainly JSON go through DRF
        (its 405, 404 and 406 answers)."""
        method = request.method
        if method not in ("POST", "OPTIONS") or not _negotiates_json(request):
            return super().dispatch(request, *args, **kwargs)
        self.args, self.kwargs, self.request = args, kwargs, request
        response = self.post(request) if method == "POST" else self.options(request)
        for name, value in self._drf_headers().items():
            response[name] = value  # our answers carry no Vary for DRF's to be merged into
        return response

    @classmethod
    def _drf_headers(cls) -> dict:
        """What DRF's ``finalize_response`` adds for this view (``default_response_headers``:
        ``Allow``, and ``Vary`` with several renderers), computed once per class."""
        headers = cls.__dict__.get("_finalize_headers")
        if headers is None:
            headers = cls._finalize_headers = cls().default_response_headers
        return headers

    def options(self, request, *args, **kwargs):
        return _preflight()

    def handle_exception(self, exc):
        # DRF's handler would mark the surrounding transaction for rollback; these views run
        # outside the request transaction, so there is none of theirs to mark (in tests, it
        # would be the test's own). Answer DRF's errors (405 …) in our shape instead.
        if isinstance(exc, exceptions.APIException):
            code = exc.get_codes() if isinstance(exc.get_codes(), str) else "invalid"
            return _json({"error": {"code": code, "message": str(exc.detail)}}, exc.status_code)
        return super().handle_exception(exc)

    def post(self, request):
        try:
            body = _body(request)
            payload = body_json(body)
            key = _key(request, payload)
            events, batch, single_size = self.events_of(payload, len(body))
            result = event_ingest(
                key=key,
                events=events,
                kind=self.kind,
                source=self.source,
                batch=batch,
                single_size=single_size,
                request_ip=_client_ip(request),
                headers=request.META,
            )
        except (RateLimitedError, ApiKeyThrottledError) as error:
            # analytics.js reads X-RateLimit-Reset (seconds) rather than Retry-After.
            wait = str(error.retry_after)
            return _error(error, **{"Retry-After": wait, "X-RateLimit-Reset": wait})
        except WorkspaceMovingError as error:
            # A 503, which SDKs retry with the same events; Retry-After says when.
            return _error(error, **{"Retry-After": str(error.retry_after)})
        except ApiKeyError as error:
            return _error(error, **{"WWW-Authenticate": 'Bearer realm="tracklayer"'})
        except DomainError as error:
            return _error(error)
        body = result.to_dict(segment=self.source == "segment")
        return _json(body, 200 if result.accepted + result.duplicates else 400)

    def events_of(self, payload, size: int) -> tuple[list, dict | None, int | None]:
        if isinstance(payload, dict) and "batch" in payload:
            if not isinstance(payload["batch"], list):
                raise InvalidBodyError("batch must be a list of events.", field="batch")
            if not payload["batch"]:
                raise InvalidBodyError(
                    "batch is empty; send at least one event.", code="empty_batch", field="batch"
                )
            return payload["batch"], payload, None
        if self.batch_only:
            raise InvalidBodyError('Send {"batch": [...]}.', field="batch")
        if not isinstance(payload, dict):
            raise InvalidBodyError("The body must be a JSON object.")
        return [payload], None, size


def _preflight() -> HttpResponse:
    response = HttpResponse(status=204)
    for name, value in CORS_HEADERS.items():
        response[name] = value
    return response


class IngestErrorDetail(serializers.Serializer):
    field = serializers.CharField()
    code = serializers.CharField()
    message = serializers.CharField()


class IngestRejected(serializers.Serializer):
    index = serializers.IntegerField()
    messageId = serializers.CharField(allow_null=True)
    errors = IngestErrorDetail(many=True)


class IngestAnswer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = IngestRejected(many=True)
    warnings = serializers.ListField(child=serializers.DictField(), required=False)
    success = serializers.BooleanField(required=False, help_text="Segment-compatible paths.")


TRACK_EXAMPLE = {
    "type": "track",
    "event": "Order Completed",
    "userId": "user-1842",
    "messageId": "4d1b8c6e-2a1f-4c1e-9a47-0f0f5a2f9b11",
    "timestamp": "2026-11-23T10:15:30.120Z",
    "sentAt": "2026-11-23T10:15:31.000Z",
    "properties": {"order_id": "A-1001", "value": 59.9, "currency": "EUR"},
    "context": {
        "traits": {"email": "ada@example.com", "phone": "+49 30 1234567"},
        "ip": "203.0.113.7",
        "userAgent": "Mozilla/5.0",
        "consent": {"tcString": "CQ…", "consentMode": {"ad_user_data": "granted"}},
        "location": {"country": "DE"},
    },
}
# What the other calls need besides the track example's fields.
KIND_EXAMPLE_FIELDS = {"group": {"groupId": "acme-inc"}, "alias": {"previousId": "anon-7f3a"}}
ANSWER_EXAMPLE = {
    "accepted": 1,
    "duplicates": 0,
    "rejected": [
        {
            "index": 1,
            "messageId": "m-2",
            "errors": [
                {"field": "event", "code": "required", "message": "A track event needs its name."}
            ],
        }
    ],
}
# --- What a request may carry (JSON Schema). It says what every event is checked against;
# beyond it, an event is refused — per event, with a named 4xx, never a 5xx — for what a
# schema cannot say: text with NUL or lone surrogates at any depth, nesting deeper than 32,
# numbers beyond 64 bits, times outside 1970–2099 or (after clock-skew correction) before 2000
# or over a day ahead, ids that are only whitespace, anonymousId over 100 characters, the
# workspace's event size and batch limits, and its tracking plan (docs/ingestion.md). A key
# may also come as ``writeKey`` in the body (browser SDKs), read only without Authorization.
_ID = {
    "anyOf": [{"type": "string"}, {"type": "integer"}],
    "nullable": True,
    "description": "Text or a whole number (trimmed; anonymousId at most 100 characters).",
}
_TIME = {
    "type": "string",
    "nullable": True,
    "description": "ISO 8601 date and time (no zone: UTC), from 1970 to before 2100.",
}
_OBJECT = {"type": "object", "nullable": True, "additionalProperties": True}
_ENVELOPE = {
    "messageId": {
        "type": "string",
        "nullable": True,
        "maxLength": MESSAGE_ID_MAX,
        "description": "Your id for de-duplication; one is made when missing.",
    },
    "userId": _ID,
    "anonymousId": _ID,
    "timestamp": _TIME,
    "originalTimestamp": _TIME,
    "sentAt": _TIME,
    "properties": _OBJECT,
    "traits": _OBJECT,
    "context": _OBJECT,
    "integrations": _OBJECT,
}
_BY_KIND = {
    "track": ({"event": {"type": "string", "maxLength": NAME_MAX}}, ["event"]),
    "page": ({"name": {"type": "string", "maxLength": NAME_MAX, "nullable": True}}, []),
    "screen": ({"name": {"type": "string", "maxLength": NAME_MAX, "nullable": True}}, []),
    "identify": ({}, []),
    "group": ({"groupId": _ID}, ["groupId"]),
    "alias": ({"previousId": _ID}, ["previousId"]),
}
_WHO = [{"required": ["userId"]}, {"required": ["anonymousId"]}]


def event_schema(kind: str | None) -> dict:
    """One event of ``kind`` (any kind, with ``type``, when None)."""
    if kind is None:
        # What else an event needs depends on its type (event, name, groupId, previousId, as
        # on the Segment paths below), which OpenAPI 3.0 cannot make conditional.
        return {
            "type": "object",
            "properties": {"type": {"type": "string", "enum": list(TYPES)}, **_ENVELOPE},
            "required": ["type"],
            "anyOf": _WHO,
        }
    extra, required = _BY_KIND[kind]
    schema = {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": [kind, None], "nullable": True},
            **_ENVELOPE,
            **extra,
        },
        "anyOf": _WHO,
    }
    return schema | ({"required": required} if required else {})


BATCH_SCHEMA = {
    "type": "object",
    "properties": {
        "batch": {
            "type": "array",
            "minItems": 1,
            # Each item is judged on its own (a mixed batch keeps its good events), so an
            # item the event schema would refuse does not refuse the batch.
            "items": {"description": "An event, with its `type` (see the single calls)."},
            "description": "At least one event; at most the workspace's batch limit.",
        },
        # Batch-level values are defaults merged under each event's own (when objects).
        "context": {"description": "Merged under each event's context."},
        "integrations": {"description": "Merged under each event's integrations."},
        "sentAt": {"description": "When the batch was sent, for events without their own."},
    },
    "required": ["batch"],
}

_RESPONSES = {
    200: OpenApiResponse(IngestAnswer, description="Something was accepted (or was a duplicate)."),
    400: OpenApiResponse(
        PolymorphicProxySerializer(
            component_name="IngestRefused",
            serializers=[IngestAnswer, ErrorResponse],
            resource_type_field_name=None,
        ),
        description="Nothing was accepted: every event was rejected (the answer names each "
        'and why), or the body cannot be read (`{"error": …}`: `invalid_json`, '
        "`invalid_gzip`, `unsupported_encoding`, `invalid_body`, or `empty_batch` naming "
        "the field `batch`).",
    ),
    401: OpenApiResponse(
        ErrorResponse, description="No key, or a malformed, invalid, revoked or expired one."
    ),
    403: OpenApiResponse(
        ErrorResponse, description="The key's role cannot send events (`permission_denied`)."
    ),
    413: OpenApiResponse(ErrorResponse, description="Over the request, event or batch limit."),
    429: OpenApiResponse(
        ErrorResponse,
        description="Over the key's event rate (`rate_limited`), or too many failed key "
        "attempts (`api_key_throttled`); see Retry-After.",
    ),
    503: OpenApiResponse(
        ErrorResponse,
        description="Nothing of this request was accepted; send it again: the database "
        "refused or failed its write (`events_not_stored`), or the workspace's data is being "
        "moved to another region (`workspace_moving`, with Retry-After in seconds).",
    ),
}


def _doc(summary: str, description: str, example: dict, request: dict):
    return extend_schema(
        summary=summary,
        description=description,
        request={"application/json": request},
        responses=_RESPONSES,
        parameters=[
            OpenApiParameter(
                "Content-Encoding",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="gzip for a compressed body.",
            )
        ],
        examples=[
            OpenApiExample("Request", value=example, request_only=True),
            OpenApiExample("Answer", value=ANSWER_EXAMPLE, response_only=True),
        ],
        tags=["ingestion"],
    )


class EventsIngestApi(IngestApi):
    source = "native"

    @_doc(
        "Send one event or a batch (native)",
        'One event (with `type`) or `{"batch": [...]}`. Authenticate with a write key: '
        "Bearer, Basic (key as user name) or `writeKey` in the body.",
        TRACK_EXAMPLE,
        {"anyOf": [event_schema(None), BATCH_SCHEMA]},
    )
    def post(self, request):
        return super().post(request)


def _segment_api(name: str, kind: str | None, batch_only: bool = False):
    class SegmentApi(IngestApi):
        pass

    SegmentApi.kind = kind
    SegmentApi.batch_only = batch_only
    SegmentApi.__name__ = SegmentApi.__qualname__ = f"Segment{name.title()}Api"

    @_doc(
        f"Segment-compatible {name}",
        f"Segment's HTTP tracking API `{name}` call, with Segment's field names and rules.",
        {**TRACK_EXAMPLE, "type": kind or "track", **KIND_EXAMPLE_FIELDS.get(kind, {})}
        if not batch_only
        else {"batch": [TRACK_EXAMPLE]},
        BATCH_SCHEMA if batch_only else event_schema(kind),
    )
    def post(self, request):
        return IngestApi.post(self, request)

    SegmentApi.post = post
    return SegmentApi


SegmentTrackApi = _segment_api("track", "track")
SegmentIdentifyApi = _segment_api("identify", "identify")
SegmentPageApi = _segment_api("page", "page")
SegmentScreenApi = _segment_api("screen", "screen")
SegmentGroupApi = _segment_api("group", "group")
SegmentAliasApi = _segment_api("alias", "alias")
SegmentBatchApi = _segment_api("batch", None, batch_only=True)


class EventOutput(serializers.Serializer):
    messageId = serializers.CharField(source="message_id")
    type = serializers.CharField()
    name = serializers.CharField()
    anonymousId = serializers.CharField(source="anonymous_id")
    userIdHash = serializers.CharField(source="user_id_hash")
    timestamp = serializers.DateTimeField()
    originalTimestamp = serializers.DateTimeField(source="original_timestamp", allow_null=True)
    sentAt = serializers.DateTimeField(source="sent_at", allow_null=True)
    receivedAt = serializers.DateTimeField(source="received_at")
    properties = serializers.DictField()
    traits = serializers.DictField()
    context = serializers.DictField()
    integrations = serializers.DictField()
    identifiers = serializers.DictField(help_text="SHA-256 per destination spec and field.")
    consent = serializers.DictField()
    validation = serializers.DictField()
    status = serializers.CharField()
    source = serializers.CharField()
    fanout = serializers.SerializerMethodField()

    def get_fanout(self, event) -> str:
        return "pending" if event.fanout_pending else "done"


class EventDetailApi(WorkspaceApi):
    """The stored event, for debugging an integration: hashed identifiers, consent signals,
    validation result and fan-out state. Needs a key that may view the workspace (viewer,
    editor or admin) — not a write key, which browsers carry in the open."""

    required_action = policy.Action.WORKSPACE_VIEW

    @extend_schema(responses={200: EventOutput, 404: ErrorResponse}, tags=["ingestion"])
    def get(self, request, message_id: str):
        event = selectors.event_get(workspace=self.workspace, message_id=message_id)
        return Response(EventOutput(event).data)
