"""The destinations API, for automation: destinations (list, create, read, change, delete,
pause, resume, test send), the delivery log of an event, and replaying dead letters.

Thin: parse, call one service or selector, answer. Reads need a key that may view the
workspace (viewer, editor, admin); create, change and delete need ``routing.edit``; pause,
resume, test and replay need ``operations.edit`` (editor, admin). Secrets are write-only:
answers show them masked (``"access_token": "••••1234"``, or ``"set"`` for short ones).
``owner`` (a member's user id, or null) and ``purpose`` are read and written like the rest
(the compliance inventory's columns); an owner who is not a member is 400 naming ``owner``.
Deliveries are addressed by their integer ``id``.
"""

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.response import Response

from destinations.models import DeliveryStatus, DestinationType
from destinations.routing import selectors, services
from destinations.routing.secrets import destination_secrets_masked
from privacy.consent import explain
from tracklayer.api import (
    ErrorResponse,
    QueryIntegerField,
    QuerySerializer,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
    WorkspaceApi,
)
from workspaces.models import User
from workspaces.policy import Action

HEALTH_WINDOW = timedelta(hours=24)
TAGS = ["destinations"]


class MethodActions:
    """The policy action a request needs, by HTTP method (one URL, several operations)."""

    actions: dict[str, Action] = {}

    @property
    def required_action(self) -> Action:
        method = "GET" if self.request.method in {"HEAD", "OPTIONS"} else self.request.method
        return self.actions.get(method, Action.WORKSPACE_VIEW)


# --- Representations ------------------------------------------------------------------------


class AutopauseSerializer(serializers.Serializer):
    """Missing keys keep the current values (the defaults, on create)."""

    error_rate = StrictFloatField(
        required=False,
        min_value=0.01,
        max_value=1,
        help_text="Pause at or above this share of failed requests (0–1).",
    )
    min_attempts = StrictIntegerField(
        required=False, min_value=1, help_text="…once at least this many requests were made."
    )
    window_seconds = StrictIntegerField(required=False, min_value=60, max_value=86400)


class AutopauseOutput(serializers.Serializer):
    error_rate = serializers.FloatField(source="autopause_error_rate")
    min_attempts = serializers.IntegerField(source="autopause_min_attempts")
    window_seconds = serializers.IntegerField(source="autopause_window_seconds")


class FailureReasonOutput(serializers.Serializer):
    kind = serializers.CharField(
        help_text="attempt: sent, and the platform failed or refused it; refused: not sent — "
        "the adapter knew the platform would refuse it (dead-lettered before sending)."
    )
    label = serializers.CharField(
        help_text="HTTP status of the failed attempts (or 'no answer'), or the refusal's "
        "reason with its numbers as #."
    )
    count = serializers.IntegerField()


class HealthOutput(serializers.Serializer):
    since = serializers.DateTimeField()
    attempts = serializers.IntegerField()
    refused = serializers.IntegerField(
        help_text="Events dead-lettered before sending since `since` (failures too)."
    )
    failures = serializers.IntegerField(help_text="Failed attempts plus refusals.")
    success_rate = serializers.FloatField(
        allow_null=True, help_text="Delivered attempts / (attempts + refusals)."
    )
    failure_reasons = FailureReasonOutput(many=True, help_text="Most frequent first, at most 5.")
    latency_p50_ms = serializers.FloatField(source="p50_ms", allow_null=True)
    latency_p95_ms = serializers.FloatField(source="p95_ms", allow_null=True)
    last_error = serializers.CharField()
    last_error_at = serializers.DateTimeField(allow_null=True)
    backlog = serializers.IntegerField(help_text="Deliveries waiting to be sent.")
    dead_letters = serializers.IntegerField()


class DestinationOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    type = serializers.CharField()
    name = serializers.CharField()
    state = serializers.CharField()
    paused_reason = serializers.CharField()
    paused_automatically = serializers.BooleanField()
    paused_at = serializers.DateTimeField(allow_null=True)
    config = serializers.DictField()
    secrets = serializers.SerializerMethodField()
    event_filter = serializers.ListField(child=serializers.CharField())
    event_mapping = serializers.DictField(child=serializers.CharField())
    property_mapping = serializers.DictField(child=serializers.CharField())
    consent_policy = serializers.DictField(help_text="Overrides of the type's policy.")
    autopause = AutopauseOutput(source="*")
    max_concurrency = serializers.IntegerField()
    max_attempts = serializers.IntegerField()
    owner = serializers.SerializerMethodField(
        help_text="The member who answers for it (user id, `usr_…`), null when nobody is "
        "named (the compliance inventory shows it)."
    )
    purpose = serializers.CharField(help_text='Why events go there ("" when unset).')
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(serializers.DictField(child=serializers.CharField()))
    def get_secrets(self, destination) -> dict:
        # Decrypted by the API view (``_destination_data``), not here row by row.
        return self.context["secrets"][destination.pk]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_owner(self, destination) -> str | None:
        # Looked up once for every row by the API view (``_destination_data``).
        return self.context["owners"].get(destination.owner_id)


class DestinationDetailOutput(DestinationOutput):
    health = serializers.SerializerMethodField()

    @extend_schema_field(HealthOutput)
    def get_health(self, destination) -> dict:
        health = selectors.destination_health(
            workspace=destination.workspace,
            destination=destination,
            since=timezone.now() - HEALTH_WINDOW,
        )
        return HealthOutput(health).data


def _destination_data(destinations, *, many: bool = False, output=None) -> dict | list:
    """Destinations as the API shows them: secrets masked (decrypted once per destination,
    here), everything else from the row."""
    rows = destinations if many else [destinations]
    secrets = {row.pk: destination_secrets_masked(row) for row in rows}
    owner_ids = {row.owner_id for row in rows if row.owner_id}
    owners = dict(
        User.objects.filter(pk__in=owner_ids).values_list("pk", "public_id") if owner_ids else ()
    )
    serializer = (output or DestinationOutput)(
        destinations, many=many, context={"secrets": secrets, "owners": owners}
    )
    return serializer.data


DESTINATION_EXAMPLE = {
    "id": "dst_4k2m9q8x7v6b5n3c1z0a",
    "type": "meta_capi",
    "name": "Meta — shop",
    "state": "active",
    "paused_reason": "",
    "paused_automatically": False,
    "paused_at": None,
    "config": {"pixel_id": "1234567890123456", "test_event_code": "TEST12345"},
    "secrets": {"access_token": "••••9xQz"},
    "event_filter": ["Order Completed", "Product Added", "$page"],
    "event_mapping": {"Order Completed": "Purchase", "Product Added": "AddToCart"},
    "property_mapping": {"value": "properties.total"},
    "consent_policy": {"on_missing": "block"},
    "autopause": {"error_rate": 0.5, "min_attempts": 20, "window_seconds": 300},
    "max_concurrency": 4,
    "max_attempts": 10,
    "owner": "usr_8h3k2m9q8x7v6b5n3c1z",
    "purpose": "Measure and optimise our Meta ad campaigns",
    "created_at": "2026-11-23T10:15:30.120000Z",
    "updated_at": "2026-11-23T10:15:30.120000Z",
}


class SettingsInput(serializers.Serializer):
    """Shape only; the service checks the values (and names the field it refuses)."""

    name = StrictCharField(max_length=100, required=False)
    config = serializers.DictField(
        required=False, help_text="The type's settings, e.g. pixel_id, url, batch_size."
    )
    secrets = serializers.DictField(
        child=StrictCharField(allow_blank=True, trim_whitespace=False),
        required=False,
        write_only=True,
        help_text="The type's secrets (write-only). On a change, an empty value keeps the "
        "stored one.",
    )
    event_filter = serializers.ListField(
        child=StrictCharField(), required=False, help_text="Empty: track and page events."
    )
    event_mapping = serializers.DictField(child=StrictCharField(), required=False)
    property_mapping = serializers.DictField(child=StrictCharField(), required=False)
    consent_policy = serializers.DictField(required=False)
    autopause = AutopauseSerializer(required=False)
    max_concurrency = StrictIntegerField(required=False, min_value=1, max_value=32)
    owner = StrictCharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=64,
        help_text="A member of the workspace who answers for it, by user id (`usr_…`); null "
        'or "" for nobody. Anyone else is refused (400 naming `owner`).',
    )
    purpose = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=services.PURPOSE_MAX,
        help_text="Why events go there, in a sentence an auditor can read.",
    )


def _destination_get(api, destination_id: str):
    return selectors.destination_get(workspace=api.workspace, public_id=destination_id)


# --- Destinations -----------------------------------------------------------------------------


class DestinationsApi(MethodActions, WorkspaceApi):
    actions = {"GET": Action.WORKSPACE_VIEW, "POST": Action.ROUTING_EDIT}

    class InputSerializer(SettingsInput):
        class Meta:
            ref_name = "DestinationCreateInput"

        type = serializers.ChoiceField(choices=DestinationType.choices)
        name = StrictCharField(max_length=100)
        config = serializers.DictField()
        secrets = serializers.DictField(
            child=StrictCharField(allow_blank=True, trim_whitespace=False),
            write_only=True,
            help_text="The type's secrets (write-only).",
        )
        event_mapping = serializers.DictField(
            child=StrictCharField(),
            required=False,
            help_text="Omit for the platform's standard names (Order Completed → Purchase …).",
        )

    class ListOutput(serializers.Serializer):
        class Meta:
            ref_name = "DestinationList"

        data = DestinationOutput(many=True)

    @extend_schema(
        operation_id="destinations_list",
        summary="List destinations",
        responses={200: ListOutput},
        tags=TAGS,
    )
    def get(self, request):
        destinations = selectors.destinations_list(workspace=self.workspace)
        return Response({"data": _destination_data(destinations, many=True)})

    @extend_schema(
        operation_id="destinations_create",
        summary="Create a destination",
        request=InputSerializer,
        responses={
            201: DestinationOutput,
            400: OpenApiResponse(ErrorResponse, description="A field the type cannot work with."),
        },
        examples=[
            OpenApiExample(
                "Meta Conversions API",
                request_only=True,
                value={
                    "type": "meta_capi",
                    "name": "Meta — shop",
                    "config": {"pixel_id": "1234567890123456"},
                    "secrets": {"access_token": "EAAG…"},
                    "event_filter": ["Order Completed", "Product Added", "$page"],
                },
            ),
            OpenApiExample(
                "Signed webhook",
                request_only=True,
                value={
                    "type": "webhook",
                    "name": "Warehouse",
                    "config": {"url": "https://hooks.example.com/tracklayer", "batch_size": 100},
                    "secrets": {"signing_secret": "whsec_…"},
                },
            ),
            OpenApiExample("Created", response_only=True, value=DESTINATION_EXAMPLE),
        ],
        tags=TAGS,
    )
    def post(self, request):
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        destination = services.destination_create(
            workspace=self.workspace, actor=request.auth, **body.validated_data
        )
        return Response(_destination_data(destination), status=status.HTTP_201_CREATED)


class DestinationDetailApi(MethodActions, WorkspaceApi):
    actions = {
        "GET": Action.WORKSPACE_VIEW,
        "PATCH": Action.ROUTING_EDIT,
        "DELETE": Action.ROUTING_EDIT,
    }

    class InputSerializer(SettingsInput):
        class Meta:
            ref_name = "DestinationUpdateInput"

        max_attempts = StrictIntegerField(required=False, min_value=1, max_value=50)

    @extend_schema(
        operation_id="destinations_retrieve",
        summary="Read a destination, with its health over the last 24 hours",
        responses={200: DestinationDetailOutput, 404: ErrorResponse},
        tags=TAGS,
    )
    def get(self, request, destination_id: str):
        destination = _destination_get(self, destination_id)
        return Response(_destination_data(destination, output=DestinationDetailOutput))

    @extend_schema(
        operation_id="destinations_update",
        summary="Change a destination",
        description="Only the fields sent change. `config` is merged into the stored settings "
        '(a key set to "" or null is removed); a secret sent empty keeps the stored one.',
        request=InputSerializer,
        responses={200: DestinationOutput, 400: ErrorResponse, 404: ErrorResponse},
        examples=[
            OpenApiExample(
                "Rotate the token and narrow the filter",
                request_only=True,
                value={
                    "secrets": {"access_token": "EAAG…new"},
                    "event_filter": ["Order Completed"],
                },
            )
        ],
        tags=TAGS,
    )
    def patch(self, request, destination_id: str):
        destination = _destination_get(self, destination_id)
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = dict(body.validated_data)
        secrets = values.pop("secrets", None)
        destination = services.destination_update(
            workspace=self.workspace,
            actor=request.auth,
            destination=destination,
            values=values,
            secrets=secrets,
        )
        return Response(_destination_data(destination))

    @extend_schema(
        operation_id="destinations_delete",
        summary="Delete a destination",
        description="Nothing is sent to it again; its delivery history stays readable.",
        responses={204: None, 404: ErrorResponse},
        tags=TAGS,
    )
    def delete(self, request, destination_id: str):
        destination = _destination_get(self, destination_id)
        services.destination_delete(
            workspace=self.workspace, actor=request.auth, destination=destination
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class DestinationPauseApi(WorkspaceApi):
    required_action = Action.OPERATIONS_EDIT

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DestinationPauseInput"

        reason = StrictCharField(max_length=300, required=False, allow_blank=True)

    @extend_schema(
        operation_id="destinations_pause",
        summary="Pause a destination",
        description="Its deliveries wait (within the platform's age limit) until it resumes.",
        request=InputSerializer,
        responses={
            200: DestinationOutput,
            404: ErrorResponse,
            409: OpenApiResponse(ErrorResponse, description="It is already paused (`conflict`)."),
        },
        examples=[
            OpenApiExample("With a reason", request_only=True, value={"reason": "Pixel migration"})
        ],
        tags=TAGS,
    )
    def post(self, request, destination_id: str):
        destination = _destination_get(self, destination_id)
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        destination = services.destination_pause(
            workspace=self.workspace,
            actor=request.auth,
            destination=destination,
            reason=body.validated_data.get("reason", ""),
        )
        return Response(_destination_data(destination))


class DestinationResumeApi(WorkspaceApi):
    required_action = Action.OPERATIONS_EDIT

    @extend_schema(
        operation_id="destinations_resume",
        summary="Resume a paused destination",
        request=None,
        responses={
            200: DestinationOutput,
            404: ErrorResponse,
            409: OpenApiResponse(ErrorResponse, description="It is not paused (`conflict`)."),
        },
        tags=TAGS,
    )
    def post(self, request, destination_id: str):
        destination = _destination_get(self, destination_id)
        destination = services.destination_resume(
            workspace=self.workspace, actor=request.auth, destination=destination
        )
        return Response(_destination_data(destination))


class DestinationTestApi(WorkspaceApi):
    required_action = Action.OPERATIONS_EDIT

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DestinationTestResult"

        ok = serializers.BooleanField()
        status = serializers.IntegerField(allow_null=True, help_text="The platform's HTTP status.")
        error = serializers.CharField(allow_blank=True)
        latency_ms = serializers.IntegerField()

    @extend_schema(
        operation_id="destinations_test",
        summary="Send a test event",
        description="One synthetic page event, straight to the platform (in its test mode "
        "where it has one); nothing is stored. Answers what the platform said.",
        request=None,
        responses={
            200: OutputSerializer,
            404: ErrorResponse,
        },
        examples=[
            OpenApiExample(
                "Accepted",
                response_only=True,
                value={"ok": True, "status": 200, "error": "", "latency_ms": 184},
            )
        ],
        tags=TAGS,
    )
    def post(self, request, destination_id: str):
        destination = _destination_get(self, destination_id)
        result = services.destination_test(
            workspace=self.workspace, actor=request.auth, destination=destination
        )
        return Response(result)


# --- Deliveries -------------------------------------------------------------------------------


class AttemptOutput(serializers.Serializer):
    started_at = serializers.DateTimeField()
    latency_ms = serializers.IntegerField()
    status_code = serializers.IntegerField(allow_null=True)
    outcome = serializers.CharField()
    error = serializers.CharField()


class DecisionOutput(serializers.Serializer):
    action = serializers.CharField(allow_null=True)
    reasons = serializers.ListField(child=serializers.CharField())
    explained = serializers.ListField(child=serializers.CharField())


def decision_of(delivery) -> dict:
    reasons = delivery.decision_reasons
    return {
        "action": delivery.decision_action,
        "reasons": reasons,
        "explained": [explain(reason) for reason in reasons],
    }


class DeliveryOutput(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    destination = serializers.CharField(source="destination.public_id")
    destination_name = serializers.CharField(source="destination.name")
    destination_type = serializers.CharField(source="destination.type")
    message_id = serializers.CharField(source="event.message_id")
    event_type = serializers.CharField(source="event.type")
    event_name = serializers.CharField(source="event.name")
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    decision = serializers.SerializerMethodField()
    last_error = serializers.CharField()
    dead_reason = serializers.CharField()
    attempt_log = AttemptOutput(many=True, source="attempt_list")

    @extend_schema_field(DecisionOutput)
    def get_decision(self, delivery) -> dict:
        return decision_of(delivery)


class DeliveriesApi(WorkspaceApi):
    """The delivery log: an event's deliveries (``messageId``), a destination's, or the
    latest — each with its consent decision and every attempt."""

    required_action = Action.WORKSPACE_VIEW

    class FilterSerializer(QuerySerializer):
        class Meta:
            ref_name = "DeliveryFilter"

        # An empty filter (``?status=``) filters nothing, as in any query string.
        messageId = StrictCharField(
            required=False, allow_blank=True, max_length=100, help_text="The event's messageId."
        )
        destination = StrictCharField(
            required=False, allow_blank=True, max_length=32, help_text="A destination id (dst_…)."
        )
        status = serializers.ChoiceField(
            choices=DeliveryStatus.choices, required=False, allow_blank=True
        )
        limit = QueryIntegerField(required=False, min_value=1, max_value=200, default=50)
        before = QueryIntegerField(
            required=False, min_value=1, help_text="A delivery id: older ones only."
        )

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DeliveryList"

        data = DeliveryOutput(many=True)
        next_before = serializers.IntegerField(
            allow_null=True, help_text="Pass as `before` for the next (older) page."
        )

    @extend_schema(
        operation_id="deliveries_list",
        summary="List deliveries",
        # The filter serializer itself, so the schema declares its limits (1–200 …).
        parameters=[FilterSerializer],
        responses={200: OutputSerializer, 400: ErrorResponse, 404: ErrorResponse},
        examples=[
            OpenApiExample(
                "An event's deliveries",
                response_only=True,
                value={
                    "data": [
                        {
                            "id": 81244,
                            "destination": "dst_4k2m9q8x7v6b5n3c1z0a",
                            "destination_name": "Meta — shop",
                            "destination_type": "meta_capi",
                            "message_id": "4d1b8c6e-2a1f-4c1e-9a47-0f0f5a2f9b11",
                            "event_type": "track",
                            "event_name": "Order Completed",
                            "status": "delivered",
                            "attempts": 2,
                            "next_attempt_at": "2026-11-23T10:15:34.000000Z",
                            "created_at": "2026-11-23T10:15:30.200000Z",
                            "delivered_at": "2026-11-23T10:15:34.310000Z",
                            "decision": {
                                "action": "deliver",
                                "reasons": ["granted:consent_mode"],
                                "explained": ["Granted by Consent Mode."],
                            },
                            "last_error": "",
                            "dead_reason": "",
                            "attempt_log": [
                                {
                                    "started_at": "2026-11-23T10:15:30.400000Z",
                                    "latency_ms": 3012,
                                    "status_code": 503,
                                    "outcome": "retry",
                                    "error": "HTTP 503",
                                },
                                {
                                    "started_at": "2026-11-23T10:15:34.100000Z",
                                    "latency_ms": 210,
                                    "status_code": 200,
                                    "outcome": "delivered",
                                    "error": "",
                                },
                            ],
                        }
                    ],
                    "next_before": None,
                },
            )
        ],
        tags=TAGS,
    )
    def get(self, request):
        query = self.FilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        destination = None
        if params.get("destination"):
            destination = _destination_get(self, params["destination"])
        limit = params["limit"]
        deliveries = selectors.deliveries_list(
            workspace=self.workspace,
            destination=destination,
            status=params.get("status"),
            message_id=params.get("messageId"),
            limit=limit,
            before=params.get("before"),
            with_attempts=True,
        )
        return Response(
            {
                "data": DeliveryOutput(deliveries, many=True).data,
                "next_before": deliveries[-1].pk if len(deliveries) == limit else None,
            }
        )


class DeliveriesReplayApi(WorkspaceApi):
    required_action = Action.OPERATIONS_EDIT
    body_required = True  # for the schema: destination or deliveries

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DeliveryReplayInput"

        destination = StrictCharField(
            required=False, max_length=32, help_text="Replay every dead letter of it."
        )
        deliveries = serializers.ListField(
            child=StrictIntegerField(min_value=1),
            required=False,
            allow_empty=False,
            max_length=1000,
            help_text="Replay these dead letters (ids).",
        )

        def validate(self, data):
            if not data.get("destination") and not data.get("deliveries"):
                raise serializers.ValidationError(
                    "Name a destination, or the deliveries to replay.", code="required"
                )
            return data

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DeliveryReplayResult"

        replayed = serializers.IntegerField(help_text="Dead letters put back in the queue.")

    @extend_schema(
        operation_id="deliveries_replay",
        summary="Replay dead letters",
        description="Dead deliveries go back to pending with their attempts reset. Others "
        "(delivered, pending, blocked) are left alone. Recorded in the audit log.",
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: ErrorResponse,
            404: ErrorResponse,
            409: OpenApiResponse(
                ErrorResponse,
                description="The workspace's data is being moved to another region (`conflict`).",
            ),
        },
        examples=[
            OpenApiExample(
                "Every dead letter of a destination",
                request_only=True,
                value={"destination": "dst_4k2m9q8x7v6b5n3c1z0a"},
            ),
            OpenApiExample(
                "Some deliveries", request_only=True, value={"deliveries": [81244, 81251]}
            ),
            OpenApiExample("Answer", response_only=True, value={"replayed": 2}),
        ],
        tags=TAGS,
    )
    def post(self, request):
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        destination = (
            _destination_get(self, data["destination"]) if data.get("destination") else None
        )
        count = services.deliveries_replay(
            workspace=self.workspace,
            actor=request.auth,
            destination=destination,
            delivery_ids=data.get("deliveries"),
        )
        return Response({"replayed": count})


class DeliveryReplayInputSchema(OpenApiSerializerExtension):
    """The replay body needs ``destination`` or ``deliveries`` (one at least): the serializer's
    ``validate`` says so to the server, this says it to the schema."""

    target_class = DeliveriesReplayApi.InputSerializer

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["properties"]["deliveries"]["minItems"] = 1  # allow_empty=False
        return {**schema, "anyOf": [{"required": ["destination"]}, {"required": ["deliveries"]}]}
