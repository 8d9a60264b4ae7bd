"""The anomalies API: ``GET /v1/anomalies`` and ``GET /v1/anomalies/{id}``, for keys whose role
can read the workspace (WORKSPACE_VIEW: viewer, editor, admin keys, like the delivery log).

Thin: parse the query, call one selector, answer. Bad input is a 400 naming the parameter; an
id of another workspace is a 404 like an unknown one."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from monitoring.anomalies import selectors, services
from monitoring.anomalies.models import AnomalyKind, AnomalyStatus
from tracklayer.api import (
    ErrorResponse,
    QueryCharField,
    QueryDateTimeField,
    QueryIntegerField,
    QuerySerializer,
    WorkspaceApi,
)

TAGS = ["anomalies"]


class AnomalyOutput(serializers.Serializer):
    class Meta:
        ref_name = "Anomaly"

    id = serializers.CharField(source="public_id", help_text="`anm_…`")
    # Text with the values listed (not enum components, whose generated names would collide
    # with other apps' kind/severity/status).
    kind = serializers.CharField(
        help_text="One of " + ", ".join(f"`{v}`" for v in AnomalyKind.values) + "."
    )
    subject = serializers.CharField(
        help_text="What it concerns: `destination:dst_…`, `source:key_…`, "
        "`event:<name>[|<property path>]`, or empty for the whole workspace."
    )
    severity = serializers.CharField(help_text="`low`, `medium` or `high`.")
    status = serializers.CharField(help_text="`open`, `acknowledged` or `resolved`.")
    summary = serializers.CharField()
    started_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField(help_text="The last detector run that found it.")
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    acknowledged_by = serializers.CharField(
        source="acknowledged_by.public_id", allow_null=True, default=None
    )
    resolved_at = serializers.DateTimeField(allow_null=True)
    resolved_by = serializers.CharField(
        source="resolved_by.public_id", allow_null=True, default=None
    )
    resolved_automatically = serializers.BooleanField()
    evidence = serializers.DictField(
        help_text="The figures and the baseline: `figure`, `observed`, `window_minutes`, "
        "`baseline` (`method`: `same_time_of_day` or `recent_hour`, `median`, `spread`, "
        "`days` …) and `series` (per minute: observed, baseline median, band low, band high)."
    )


class AnomaliesApi(WorkspaceApi):
    """The workspace's anomalies, newest first."""

    required_action = services.VIEW_ACTION

    class Query(QuerySerializer):
        class Meta:
            ref_name = "AnomalyFilter"

        # Blank is "any", as the other lists' filters (the schema allows it, so must we).
        status = serializers.ChoiceField(
            choices=AnomalyStatus.choices, required=False, allow_blank=True
        )
        kind = serializers.ChoiceField(
            choices=AnomalyKind.choices, required=False, allow_blank=True
        )
        since = QueryDateTimeField(
            required=False, help_text="Only anomalies started at or after this time (ISO 8601)."
        )
        limit = QueryIntegerField(required=False, min_value=1, max_value=200, default=50)
        before = QueryCharField(
            required=False, max_length=32, help_text="An anomaly id: older ones only (paging)."
        )

    class ListOutput(serializers.Serializer):
        class Meta:
            ref_name = "AnomalyList"

        data = AnomalyOutput(many=True)
        next_before = serializers.CharField(
            allow_null=True, help_text="Pass as `before` for the next (older) page."
        )

    @extend_schema(
        operation_id="anomalies_list",
        summary="List anomalies",
        parameters=[Query],
        responses={200: ListOutput, 400: ErrorResponse},
        examples=[
            OpenApiExample(
                "A destination down",
                response_only=True,
                value={
                    "data": [
                        {
                            "id": "anm_4k2m9q8x7v6b5n3c1z0a",
                            "kind": "destination_down",
                            "subject": "destination:dst_8h2k4m6p8r0t2v4x6z8b",
                            "severity": "high",
                            "status": "open",
                            "summary": "Every request to dst_8h2k4m6p8r0t2v4x6z8b failed for 2 "
                            "minutes (14 failed attempts, none delivered).",
                            "started_at": "2026-11-23T14:02:05Z",
                            "last_seen_at": "2026-11-23T14:05:05Z",
                            "acknowledged_at": None,
                            "acknowledged_by": None,
                            "resolved_at": None,
                            "resolved_by": None,
                            "resolved_automatically": False,
                            "evidence": {
                                "figure": "delivery.failed",
                                "observed": 14,
                                "delivered": 0,
                                "window_minutes": 2,
                            },
                        }
                    ],
                    "next_before": None,
                },
            )
        ],
        tags=TAGS,
    )
    def get(self, request):
        query = self.Query(data=request.query_params)
        query.is_valid(raise_exception=True)
        options = query.validated_data
        rows = selectors.anomalies_list(
            workspace=self.workspace,
            status=options.get("status"),
            kind=options.get("kind"),
            since=options.get("since"),
            before=options.get("before"),
        )
        page = list(rows[: options["limit"] + 1])
        more = len(page) > options["limit"]
        page = page[: options["limit"]]
        return Response(
            {
                "data": AnomalyOutput(page, many=True).data,
                "next_before": page[-1].public_id if more else None,
            }
        )


class AnomalyDetailApi(WorkspaceApi):
    required_action = services.VIEW_ACTION

    @extend_schema(
        operation_id="anomalies_retrieve",
        summary="Read an anomaly with its evidence",
        responses={200: AnomalyOutput, 404: ErrorResponse},
        tags=TAGS,
    )
    def get(self, request, anomaly_id: str):
        found = selectors.anomaly_get(workspace=self.workspace, public_id=anomaly_id)
        return Response(AnomalyOutput(found).data)
