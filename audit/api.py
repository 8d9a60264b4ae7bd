"""Audit log API: verify, the latest signed checkpoint, and RFC 9162 proofs. Read-only; any
key whose role may view the audit log (viewer, editor, admin)."""

import base64

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response

from audit import selectors, services
from tracklayer.api import (
    ErrorResponse,
    QueryIntegerField,
    QuerySerializer,
    StrictCharField,
    WorkspaceApi,
)
from workspaces.policy import Action


@extend_schema_field(OpenApiTypes.BYTE)
class Base64HashField(serializers.Field):
    def to_representation(self, value: bytes) -> str:
        return base64.b64encode(bytes(value)).decode()


@extend_schema_serializer(component_name="AuditVerifyEntry")
class _VerifyEntrySerializer(serializers.Serializer):
    idx = serializers.IntegerField()
    event_id = serializers.CharField()
    event_type = serializers.CharField()
    timestamp = serializers.DateTimeField()
    hash = serializers.CharField(help_text="The entry's hash (hex).")


@extend_schema_serializer(component_name="AuditVerifyBreak")
class _VerifyBreakSerializer(serializers.Serializer):
    idx = serializers.IntegerField(allow_null=True, help_text="null: about the whole log.")
    reason = serializers.CharField()
    detail = serializers.CharField(allow_blank=True)


@extend_schema_serializer(component_name="AuditVerifyCheckpoint")
class _VerifyCheckpointSerializer(serializers.Serializer):
    size = serializers.IntegerField()
    root = serializers.CharField(allow_blank=True, help_text="Base64; empty when unsigned.")
    signature_valid = serializers.BooleanField()
    consistent = serializers.BooleanField()


class AuditVerifyApi(WorkspaceApi):
    """Recompute the whole chain and tree; check every signed checkpoint."""

    required_action = Action.AUDIT_VIEW

    @extend_schema_serializer(component_name="AuditVerifyOutput")
    class OutputSerializer(serializers.Serializer):
        workspace_id = serializers.CharField()
        merchant_id = serializers.CharField(help_text="The workspace's public id again.")
        chain_status = serializers.ChoiceField(choices=["valid", "broken"])
        total_events = serializers.IntegerField(help_text="Entries checked.")
        verified_events = serializers.IntegerField(help_text="Entries checked (= total_events).")
        current_events = serializers.IntegerField(help_text="Entries in the log when it ended.")
        newer_events = serializers.IntegerField(help_text="Entries appended while it ran.")
        break_count = serializers.IntegerField()
        broken_events = serializers.ListField(
            child=_VerifyBreakSerializer(), help_text="The first 100 breaks."
        )
        first_event = _VerifyEntrySerializer(allow_null=True)
        last_event = _VerifyEntrySerializer(allow_null=True)
        root = serializers.CharField(allow_null=True, help_text="Merkle root (base64).")
        last_verified_at = serializers.DateTimeField(allow_null=True)
        checkpoint = _VerifyCheckpointSerializer(
            allow_null=True, help_text="The latest validly signed checkpoint."
        )

    @extend_schema(
        responses={200: OutputSerializer},
        description="`chain_status`, how many entries were verified and how many are newer, "
        "each break found (entry and kind) and the latest checkpoint checked; the same answer "
        "as the dashboard and `tracklayer audit verify`. `merchant_id` repeats `workspace_id`; "
        "`first_event` and `last_event` are the first and last entries verified (one appended "
        "while it ran is counted in `newer_events`).",
        tags=["audit"],
    )
    def get(self, request):
        return Response(selectors.audit_verify(workspace=self.workspace))


class AuditCheckpointApi(WorkspaceApi):
    """The latest signed checkpoint as a C2SP signed note (text/plain), plus the verifier key
    in ``X-Verifier-Key``; 404 before the first checkpoint is signed."""

    required_action = Action.AUDIT_VIEW

    @extend_schema(
        responses={
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="Signed note"),
            404: OpenApiResponse(ErrorResponse, description="No checkpoint signed yet."),
        },
        parameters=[
            OpenApiParameter(
                "X-Verifier-Key",
                str,
                OpenApiParameter.HEADER,
                response=[200],
                required=True,
                description="The note's verifier key (C2SP vkey).",
            )
        ],
        tags=["audit"],
    )
    def get(self, request):
        checkpoint = selectors.audit_checkpoint_latest(workspace=self.workspace)
        if checkpoint is None:
            return Response(
                {"error": {"code": "no_checkpoint", "message": "No checkpoint signed yet."}},
                status=404,
            )
        response = HttpResponse(checkpoint.note, content_type="text/plain; charset=utf-8")
        response["X-Verifier-Key"] = checkpoint.signing_key.verifier_key
        return response


class AuditInclusionProofApi(WorkspaceApi):
    required_action = Action.AUDIT_VIEW

    @extend_schema_serializer(component_name="AuditInclusionProofInput")
    class InputSerializer(QuerySerializer):
        index = QueryIntegerField(min_value=0)
        size = QueryIntegerField(min_value=1, required=False)

    @extend_schema_serializer(component_name="AuditInclusionProofOutput")
    class OutputSerializer(serializers.Serializer):
        index = serializers.IntegerField()
        size = serializers.IntegerField()
        leaf_hash = Base64HashField()
        root = Base64HashField()
        proof = serializers.ListField(child=Base64HashField())

    @extend_schema(parameters=[InputSerializer], responses=OutputSerializer, tags=["audit"])
    def get(self, request):
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        proof = selectors.audit_inclusion_proof(workspace=self.workspace, **params.validated_data)
        return Response(self.OutputSerializer(proof).data)


class AuditConsistencyProofApi(WorkspaceApi):
    required_action = Action.AUDIT_VIEW

    @extend_schema_serializer(component_name="AuditConsistencyProofInput")
    class InputSerializer(QuerySerializer):
        first = QueryIntegerField(min_value=1)
        second = QueryIntegerField(min_value=1, required=False)

    @extend_schema_serializer(component_name="AuditConsistencyProofOutput")
    class OutputSerializer(serializers.Serializer):
        first = serializers.IntegerField()
        second = serializers.IntegerField()
        first_root = Base64HashField()
        second_root = Base64HashField()
        proof = serializers.ListField(child=Base64HashField())

    @extend_schema(parameters=[InputSerializer], responses=OutputSerializer, tags=["audit"])
    def get(self, request):
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        proof = selectors.audit_consistency_proof(workspace=self.workspace, **params.validated_data)
        return Response(self.OutputSerializer(proof).data)


class AuditEventCreateApi(WorkspaceApi):
    """Append one of the customer's own events to the workspace's log (an audit-role key).

    The event type is stored as ``custom.<event_type>`` so a customer event can never pass for
    one of TrackLayer's own. While the advisory lock is on, the request must carry the key in
    ``X-Advisory-Key`` (403 ``advisory_lock_enabled`` otherwise).
    """

    required_action = Action.AUDIT_APPEND

    @extend_schema_serializer(component_name="AuditEventCreateInput")
    class InputSerializer(serializers.Serializer):
        event_type = serializers.RegexField(
            r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$",
            max_length=56,
            trim_whitespace=False,  # " order.refunded" is refused, as the pattern says
            error_messages={"invalid": "Use lowercase words joined by dots, e.g. order.refunded."},
        )
        resource_id = StrictCharField(max_length=64)
        payload = serializers.DictField(
            required=False,
            default=dict,
            help_text="Any JSON object, stored as canonical JSON (RFC 8785): numbers are "
            "integers within ±(2^53 − 1) (no floats: use minor units), text has no lone "
            "surrogates; otherwise 400 `audit_payload_invalid`.",
        )

        def validate_event_type(self, value: str) -> str:
            # Python's ``$`` also matches before a final newline; the schema's pattern (read
            # as JSON Schema reads it) does not, and neither does the server.
            if not isinstance(value, str) or value.endswith("\n"):
                raise serializers.ValidationError(
                    self.fields["event_type"].error_messages["invalid"], code="invalid"
                )
            return value

    @extend_schema_serializer(component_name="AuditEventCreateOutput")
    class OutputSerializer(serializers.Serializer):
        idx = serializers.IntegerField()
        event_id = serializers.CharField(source="public_id")
        event_type = serializers.CharField()
        hash = serializers.CharField(source="hash_hex")

    @extend_schema(
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            403: OpenApiResponse(
                ErrorResponse,
                description="The key's role may not append (`permission_denied`), or the log "
                "is under the advisory lock and `X-Advisory-Key` is missing "
                "(`advisory_lock_enabled`) or wrong (`advisory_key_invalid`).",
            ),
        },
        parameters=[
            OpenApiParameter(
                "X-Advisory-Key",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="The advisory key, while the workspace's log is locked.",
            )
        ],
        tags=["audit"],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = services.audit_customer_event_record(
            workspace=self.workspace, actor=request.auth, **data.validated_data
        )
        return Response(self.OutputSerializer(entry).data, status=201)
