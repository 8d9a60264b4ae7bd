"""Public verification API: no key, no session, no cookie — anyone may check a workspace's audit
log once the workspace has opted in (docs/evidence-center.md, "Public verification").

``GET /v1/public/workspaces/{workspace_id}/verification``: the log's origin, its latest signed
checkpoints and its verifier keys. ``GET /v1/public/workspaces/{workspace_id}/proof?hash=``:
an entry's index and RFC 9162 inclusion proof to the latest signed checkpoint.

An unknown workspace, a deleted one and one that has not opted in are the same 404
(``not_found``), so the endpoints tell nobody which workspaces exist. Rate-limited per client
address (429 ``throttled`` with ``Retry-After``), the unknown ids included.
"""

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from compliance.public_verification import selectors
from compliance.public_verification.headers import public_cache_headers
from compliance.public_verification.throttle import public_rate_take
from tracklayer.api import ErrorResponse, QuerySerializer, error_body

TAG = "public verification"
WORKSPACE_ID = OpenApiParameter(
    "workspace_id",
    str,
    OpenApiParameter.PATH,
    pattern=f"^{selectors.PUBLIC_ID.pattern}$",
    description="The workspace's public id (`ws_…`), as its verification page shows it.",
)
NOT_FOUND_MESSAGE = "No public verification here."
THROTTLED = OpenApiResponse(
    ErrorResponse,
    description="Too many requests from this address (`throttled`); wait `Retry-After` seconds.",
)


def _not_found() -> Response:
    return Response(error_body("not_found", NOT_FOUND_MESSAGE), status=404)


class PublicRateThrottle(BaseThrottle):
    """The public bucket of the caller's address (``throttle.public_rate_take``)."""

    def allow_request(self, request, view) -> bool:
        self.decision = public_rate_take(request)
        return self.decision.allowed

    def wait(self) -> int:
        return self.decision.retry_after


class PublicApi(APIView):
    """No authentication and no permission: nothing here depends on who asks."""

    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes = [PublicRateThrottle]

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # Public data without credentials: a verifier running in any web page may read it.
        response["Access-Control-Allow-Origin"] = "*"
        return public_cache_headers(response)


@extend_schema_serializer(component_name="PublicCheckpoint")
class CheckpointSerializer(serializers.Serializer):
    size = serializers.IntegerField(help_text="Entries the checkpoint covers.")
    root = serializers.CharField(help_text="The Merkle tree hash (hex) at that size.")
    signed_at = serializers.DateTimeField()
    verifier_key = serializers.CharField(help_text="The key that signed it (C2SP vkey).")
    note = serializers.CharField(help_text="The C2SP signed note, exactly as stored.")


class VerifierKeySerializer(serializers.Serializer):
    vkey = serializers.CharField(help_text="C2SP signed-note verifier key.")
    current = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    retired_at = serializers.DateTimeField(allow_null=True)


class PublicVerificationApi(PublicApi):
    @extend_schema_serializer(component_name="PublicVerification")
    class OutputSerializer(serializers.Serializer):
        workspace_id = serializers.CharField()
        origin = serializers.CharField(
            allow_null=True, help_text="The log's origin line (null before its first entry)."
        )
        checkpoints = CheckpointSerializer(many=True, help_text="The latest, newest first.")
        verifier_keys = VerifierKeySerializer(many=True, help_text="The current key first.")

    @extend_schema(
        operation_id="public_verification_retrieve",
        auth=[],
        parameters=[WORKSPACE_ID],
        responses={
            200: OutputSerializer,
            404: OpenApiResponse(
                ErrorResponse, description="No such workspace, or it has not opted in."
            ),
            429: THROTTLED,
        },
        tags=[TAG],
        description="The workspace's signed checkpoints and verifier keys. No key needed.",
    )
    def get(self, request, workspace_id: str):
        workspace = selectors.public_workspace(public_id=workspace_id)
        if workspace is None:
            return _not_found()
        log = selectors.public_log(workspace=workspace)
        return Response(self.OutputSerializer({"workspace_id": workspace.public_id, **log}).data)


class PublicInclusionProofApi(PublicApi):
    @extend_schema_serializer(component_name="PublicInclusionProofInput")
    class InputSerializer(QuerySerializer):
        hash = serializers.RegexField(
            f"^{selectors.ENTRY_HASH.pattern}$",
            help_text="The entry's hash: SHA-256(prev_hash || material), 64 hex digits.",
        )

    @extend_schema_serializer(component_name="PublicInclusionProof")
    class OutputSerializer(serializers.Serializer):
        """The audit log's inclusion proof document (the entry page's ``proof.json``), the
        entry's contents withheld."""

        format = serializers.CharField(help_text="`tracklayer.audit-inclusion-proof.v1`.")
        workspace_id = serializers.CharField()
        index = serializers.IntegerField(help_text="The entry's index (leaf) in the log.")
        event_id = serializers.CharField(
            allow_null=True, help_text="Withheld here (null); the entry page's file has it."
        )
        event_type = serializers.CharField(allow_null=True, help_text="Withheld here (null).")
        material = serializers.CharField(
            allow_null=True,
            help_text="The entry's bytes (base64): withheld here (null); the checker takes "
            "the bytes you hold with `--material`.",
        )
        hash = serializers.CharField(help_text="The entry's hash, hex.")
        prev_hash = serializers.CharField(
            allow_null=True, help_text="The previous entry's hash, hex (null for the first)."
        )
        leaf_hash = serializers.CharField(help_text="SHA-256(0x00 || material), base64.")
        size = serializers.IntegerField(
            allow_null=True, help_text="The signed checkpoint's size (the tree proven to)."
        )
        root = serializers.CharField(allow_null=True, help_text="Its root, base64.")
        proof = serializers.ListField(
            child=serializers.CharField(), help_text="RFC 9162 inclusion path, base64."
        )
        checkpoint = serializers.CharField(help_text="The C2SP signed note, exactly as stored.")
        verifier_key = serializers.CharField(help_text="The key that signed it (C2SP vkey).")
        status = serializers.CharField(
            help_text="TrackLayer's own check of this proof: `verified` or `failed`."
        )
        check = serializers.CharField(help_text="How to check the file offline.")

    @extend_schema(
        operation_id="public_verification_proof",
        auth=[],
        parameters=[WORKSPACE_ID, InputSerializer],
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(
                ErrorResponse, description="`hash` is not 64 hex digits (`invalid`)."
            ),
            404: OpenApiResponse(
                ErrorResponse,
                description="No such workspace or not opted in (`not_found`), or no entry with "
                "this hash in its log (`entry_not_found`).",
            ),
            409: OpenApiResponse(
                ErrorResponse,
                description="The entry is newer than the latest signed checkpoint "
                "(`entry_not_checkpointed`; the next checkpoint will cover it), or that "
                "checkpoint's signature does not verify (`proof_failed`, with the reason).",
            ),
            429: THROTTLED,
        },
        tags=[TAG],
        description="An entry's RFC 9162 inclusion proof to the latest signed checkpoint, in "
        "the audit log's proof document format (as the entry page's `proof.json`, without the "
        "entry's contents). No key needed.",
    )
    def get(self, request, workspace_id: str):
        workspace = selectors.public_workspace(public_id=workspace_id)
        if workspace is None:
            return _not_found()
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        try:
            proof = selectors.public_inclusion_proof(
                workspace=workspace, entry_hash=params.validated_data["hash"]
            )
        except selectors.EntryNotFound:
            return Response(
                error_body("entry_not_found", "No entry with this hash in this log.", field="hash"),
                status=404,
            )
        except selectors.EntryNotCheckpointed as pending:
            return Response(
                error_body(
                    "entry_not_checkpointed",
                    f"The entry is newer than the latest signed checkpoint (size "
                    f"{pending.size}); the next checkpoint will cover it.",
                    field="hash",
                ),
                status=409,
            )
        except selectors.CheckpointUnverified as failed:
            return Response(
                error_body(
                    "proof_failed",
                    f"The latest checkpoint does not verify ({failed.reason}): there is no "
                    "signed root to prove the entry to.",
                ),
                status=409,
            )
        return Response(proof)
