"""Audit log API: verify, the latest signed checkpoint, and RFC 9162 proofs. Read-only; any
key whose role may view the audit log (viewer, editor, admin)."""

import base64

from django.http import HttpResponse
from rest_framework import serializers
from rest_framework.response import Response

from audit import selectors, services
from tracklayer.api import WorkspaceApi
from workspaces.policy import Action


class Base64HashField(serializers.Field):
    def to_representation(self, value: bytes) -> str:
        return base64.b64encode(bytes(value)).decode()


class AuditVerifyApi(WorkspaceApi):
    """Recompute the whole chain and tree; check every signed checkpoint."""

    required_action = Action.AUDIT_VIEW

    def get(self, request):
        return Response(selectors.audit_verify(workspace=self.workspace))


class AuditCheckpointApi(WorkspaceApi):
    """The latest signed checkpoint as a C2SP signed note (text/plain), plus the verifier key
    in ``X-Verifier-Key``; 404 before the first checkpoint is signed."""

    required_action = Action.AUDIT_VIEW

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

    class InputSerializer(serializers.Serializer):
        index = serializers.IntegerField(min_value=0)
        size = serializers.IntegerField(min_value=1, required=False)

    class OutputSerializer(serializers.Serializer):
        index = serializers.IntegerField()
        size = serializers.IntegerField()
        leaf_hash = Base64HashField()
        root = Base64HashField()
        proof = serializers.ListField(child=Base64HashField())

    def get(self, request):
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        proof = selectors.audit_inclusion_proof(workspace=self.workspace, **params.validated_data)
        return Response(self.OutputSerializer(proof).data)


class AuditConsistencyProofApi(WorkspaceApi):
    required_action = Action.AUDIT_VIEW

    class InputSerializer(serializers.Serializer):
        first = serializers.IntegerField(min_value=1)
        second = serializers.IntegerField(min_value=1, required=False)

    class OutputSerializer(serializers.Serializer):
        first = serializers.IntegerField()
        second = serializers.IntegerField()
        first_root = Base64HashField()
        second_root = Base64HashField()
        proof = serializers.ListField(child=Base64HashField())

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

    class InputSerializer(serializers.Serializer):
        event_type = serializers.RegexField(
            r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$",
            max_length=56,
            error_messages={"invalid": "Use lowercase words joined by dots, e.g. order.refunded."},
        )
        resource_id = serializers.CharField(max_length=64)
        payload = serializers.DictField(required=False, default=dict)

    class OutputSerializer(serializers.Serializer):
        idx = serializers.IntegerField()
        event_id = serializers.CharField(source="public_id")
        event_type = serializers.CharField()
        hash = serializers.CharField(source="hash_hex")

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = services.audit_customer_event_record(
            workspace=self.workspace, actor=request.auth, **data.validated_data
        )
        return Response(self.OutputSerializer(entry).data, status=201)
