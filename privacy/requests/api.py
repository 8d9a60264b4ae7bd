"""The data-subject requests API (admin keys): create, list, read, export, receipt.

Thin: parse, call one service or selector, answer. Bad input is a 400 naming the field
(``subject.email``, ``subjects[3].phone``, ``type``, ``subjects``, ``default_region``)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from privacy.models import RequestStatus, RequestType
from privacy.requests import selectors, services
from privacy.requests.matching import field_name
from tracklayer.api import ErrorResponse, QueryIntegerField, QuerySerializer, WorkspaceApi
from tracklayer.exceptions import DomainError

TAGS = ["privacy"]
FIELDS = ("type", "subject", "subjects", "default_region")


class RequestOutput(serializers.Serializer):
    class Meta:
        ref_name = "DataSubjectRequest"

    id = serializers.CharField(source="public_id")
    type = serializers.CharField()
    status = serializers.CharField()
    subjects = serializers.IntegerField(source="subject_count")
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Rows per store.")
    suppressions = serializers.DictField(child=serializers.IntegerField())
    forwarding = serializers.DictField(help_text="Destination id → the result of forwarding.")
    error = serializers.CharField()
    requested_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class CreateInput(serializers.Serializer):
    """Documented shape; the service checks the body itself and names the refused field."""

    class Meta:
        ref_name = "DataSubjectRequestCreate"

    type = serializers.ChoiceField(choices=RequestType.choices)
    subject = serializers.DictField(required=False)
    subjects = serializers.ListField(child=serializers.DictField(), required=False)
    default_region = serializers.CharField(
        required=False,
        help_text="ISO 3166-1 alpha-2 country (e.g. DE) for phone numbers written without a "
        "country code; without it such a number is refused.",
    )


class BodyError(DomainError):
    code = "invalid_request"


class RequestsApi(WorkspaceApi):
    required_action = services.REQUIRED_ACTION

    class Query(QuerySerializer):
        # Blank is "any", as the other lists' filters (the schema allows it, so must we).
        status = serializers.ChoiceField(
            choices=RequestStatus.choices, required=False, allow_blank=True
        )
        type = serializers.ChoiceField(
            choices=RequestType.choices, required=False, allow_blank=True
        )
        limit = QueryIntegerField(required=False, min_value=1, max_value=500, default=100)

    class ListOutput(serializers.Serializer):
        class Meta:
            ref_name = "DataSubjectRequestList"

        data = RequestOutput(many=True)

    @extend_schema(
        operation_id="data_subject_requests_list",
        summary="List data-subject requests, newest first",
        parameters=[Query],
        responses={200: ListOutput, 400: ErrorResponse},
        tags=TAGS,
    )
    def get(self, request):
        query = self.Query(data=request.query_params)
        query.is_valid(raise_exception=True)
        options = query.validated_data
        rows = selectors.dsr_list(
            workspace=self.workspace, status=options.get("status"), type=options.get("type")
        )[: options["limit"]]
        return Response({"data": RequestOutput(rows, many=True).data})

    @extend_schema(
        operation_id="data_subject_requests_create",
        summary="Make a data-subject request (access, delete, suppress, unsuppress)",
        request=CreateInput,
        responses={
            202: RequestOutput,
            400: OpenApiResponse(ErrorResponse, description="The field that was refused."),
        },
        tags=TAGS,
    )
    def post(self, request):
        body = request.data
        if not isinstance(body, dict):
            raise BodyError("Give a JSON object.")
        unknown = sorted((key for key in body if key not in FIELDS), key=repr)
        if unknown:
            raise BodyError("Unknown field.", field=field_name("", unknown[0]) or None)
        created = services.dsr_create(
            workspace=self.workspace,
            actor=request.auth,
            type=body.get("type"),
            subject=body.get("subject"),
            subjects=body.get("subjects"),
            default_region=body.get("default_region"),
        )
        return Response(RequestOutput(created).data, status=status.HTTP_202_ACCEPTED)


class RequestDetailApi(WorkspaceApi):
    required_action = services.REQUIRED_ACTION

    @extend_schema(
        operation_id="data_subject_requests_retrieve",
        summary="Read a data-subject request",
        responses={200: RequestOutput, 404: ErrorResponse},
        tags=TAGS,
    )
    def get(self, request, request_id: str):
        found = selectors.dsr_get(workspace=self.workspace, public_id=request_id)
        return Response(RequestOutput(found).data)


class RequestExportApi(WorkspaceApi):
    required_action = services.REQUIRED_ACTION

    @extend_schema(
        operation_id="data_subject_requests_export",
        summary="Everything stored about an access request's subjects (hashes as hashes)",
        responses={
            200: OpenApiTypes.OBJECT,
            404: ErrorResponse,
            409: ErrorResponse,
            410: OpenApiResponse(ErrorResponse, description="export_expired: kept 30 days."),
        },
        tags=TAGS,
    )
    def get(self, request, request_id: str):
        return Response(services.dsr_export_read(workspace=self.workspace, public_id=request_id))


class RequestReceiptApi(WorkspaceApi):
    required_action = services.REQUIRED_ACTION

    @extend_schema(
        operation_id="data_subject_requests_receipt",
        summary="The request's receipt: its audit entry and inclusion proof (offline check)",
        responses={200: OpenApiTypes.OBJECT, 404: ErrorResponse},
        tags=TAGS,
    )
    def get(self, request, request_id: str):
        return Response(
            services.dsr_receipt(workspace=self.workspace, actor=request.auth, public_id=request_id)
        )
