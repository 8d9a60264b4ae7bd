"""The incidents API (read-only; keys that may view the workspace: viewer, editor, admin):
the list, one incident with its timeline, and the export for the evidence package.

Thin: parse, call one selector, answer. Incidents are addressed by their public id
(``inc_…``); another workspace's id is a 404 like an unknown one."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from monitoring.incidents import selectors
from monitoring.incidents.models import EventKind, Phase, Severity, SourceKind
from monitoring.incidents.services import VIEW_ACTION
from tracklayer.api import ErrorResponse, QueryIntegerField, QuerySerializer, WorkspaceApi

TAGS = ["incidents"]
MAX_LIMIT = 200


def _one_of(values) -> str:
    # Answers are documented as text naming their values, not as enum components, whose
    # generated names would collide with other apps' fields called status, kind or phase.
    return "One of " + ", ".join(f"`{value}`" for value in values) + "."


class SourceOutput(serializers.Serializer):
    class Meta:
        ref_name = "IncidentSource"

    kind = serializers.CharField(help_text=_one_of(SourceKind.values))
    ids = serializers.ListField(
        child=serializers.CharField(),
        help_text="The anomalies' ids, or the automatically paused destination's, in order.",
    )


class ContainmentTargetOutput(serializers.Serializer):
    class Meta:
        ref_name = "IncidentContainmentTarget"

    status = serializers.CharField(
        help_text="`met` (contained within one hour of opening), `missed` or `remaining`."
    )
    deadline = serializers.DateTimeField(help_text="Opened at + 1 hour.")
    seconds = serializers.IntegerField(
        help_text="remaining: seconds left; met or missed: how long containment took (or has "
        "taken so far)."
    )


class PostmortemOutput(serializers.Serializer):
    class Meta:
        ref_name = "IncidentPostmortem"

    impact = serializers.CharField()
    timeline_summary = serializers.CharField()
    contributing_factors = serializers.CharField()
    corrective_actions = serializers.CharField()


class IncidentOutput(serializers.Serializer):
    """An incident as ``selectors.incident_document`` builds it."""

    class Meta:
        ref_name = "Incident"

    id = serializers.CharField(help_text="`inc_…`")
    title = serializers.CharField()
    severity = serializers.CharField(help_text=_one_of(Severity.values))
    phase = serializers.CharField(help_text=_one_of(Phase.values))
    status = serializers.CharField(help_text="`open` or `closed`.")
    opened_at = serializers.DateTimeField()
    opened_by = serializers.CharField(help_text="`user:usr_…`, `api_key:key_…` or `system:…`.")
    source = SourceOutput()
    subject = serializers.CharField(
        help_text="What it concerns: `destination:dst_…`, `event:<name>`, or empty."
    )
    contained_at = serializers.DateTimeField(allow_null=True)
    eradicated_at = serializers.DateTimeField(allow_null=True)
    reviewed_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    containment_target = ContainmentTargetOutput()
    time_in_phase = serializers.DictField(
        child=serializers.IntegerField(), help_text="Seconds in each phase so far."
    )
    paused_destinations = serializers.ListField(
        child=serializers.CharField(),
        help_text="Destinations its “pause all egress” paused, until “resume those”.",
    )
    postmortem_complete = serializers.BooleanField()


class TimelineEventOutput(serializers.Serializer):
    class Meta:
        ref_name = "IncidentTimelineEvent"

    at = serializers.DateTimeField()
    actor = serializers.CharField()
    kind = serializers.CharField(help_text=_one_of(EventKind.values))
    note = serializers.CharField(help_text="What a person wrote, if anything.")
    detail = serializers.DictField(help_text="Machine data: phases, ids, counts.")


class IncidentDetailOutput(IncidentOutput):
    class Meta:
        ref_name = "IncidentDetail"

    postmortem = PostmortemOutput()
    timeline = TimelineEventOutput(many=True)


class IncidentsApi(WorkspaceApi):
    required_action = VIEW_ACTION

    class Query(QuerySerializer):
        # Blank is "any", as the other lists' filters (the schema allows it, so must we).
        status = serializers.ChoiceField(
            choices=[("open", "open"), ("closed", "closed")], required=False, allow_blank=True
        )
        phase = serializers.ChoiceField(choices=Phase.choices, required=False, allow_blank=True)
        severity = serializers.ChoiceField(
            choices=Severity.choices, required=False, allow_blank=True
        )
        limit = QueryIntegerField(required=False, min_value=1, max_value=MAX_LIMIT, default=50)
        offset = QueryIntegerField(required=False, min_value=0, max_value=1_000_000, default=0)

    class ListOutput(serializers.Serializer):
        class Meta:
            ref_name = "IncidentList"

        data = IncidentOutput(many=True)
        next_offset = serializers.IntegerField(
            allow_null=True, help_text="Pass as `offset` for the next page; null on the last."
        )

    @extend_schema(
        operation_id="incidents_list",
        summary="List incidents: open first, then the most severe, newest first",
        parameters=[Query],
        responses={200: ListOutput, 400: ErrorResponse},
        tags=TAGS,
    )
    def get(self, request):
        query = self.Query(data=request.query_params)
        query.is_valid(raise_exception=True)
        options = query.validated_data
        limit, offset = options["limit"], options["offset"]
        rows = selectors.incident_list_documents(
            selectors.incident_list(
                workspace=self.workspace,
                status=options.get("status"),
                phase=options.get("phase"),
                severity=options.get("severity"),
            )[offset : offset + limit + 1]
        )
        more = len(rows) > limit
        return Response({"data": rows[:limit], "next_offset": offset + limit if more else None})


class IncidentDetailApi(WorkspaceApi):
    required_action = VIEW_ACTION

    @extend_schema(
        operation_id="incidents_retrieve",
        summary="Read an incident: its phases, containment target, post-mortem and timeline",
        responses={200: IncidentDetailOutput, 404: ErrorResponse},
        tags=TAGS,
    )
    def get(self, request, incident_id: str):
        incident = selectors.incident_get(workspace=self.workspace, public_id=incident_id)
        return Response(selectors.incident_document(incident, full=True))


class IncidentExportApi(WorkspaceApi):
    required_action = VIEW_ACTION

    @extend_schema(
        operation_id="incidents_export",
        summary="The incident, its timeline and its audit entries' indexes and hashes "
        "(format tracklayer.incident-export.v1, docs/monitoring.md)",
        responses={200: OpenApiTypes.OBJECT, 404: ErrorResponse},
        tags=TAGS,
    )
    def get(self, request, incident_id: str):
        return Response(selectors.incident_export(workspace=self.workspace, public_id=incident_id))
