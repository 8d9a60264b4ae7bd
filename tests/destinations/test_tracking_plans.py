"""Tracking plans: schemas checked on save, events checked on ingestion (allow / flag / block,
unplanned names), violations counted without values, import/export, audit, permissions and
Settings → Tracking plan."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from destinations.ingestion import runtime
from destinations.models import TrackingPlan, TrackingPlanViolation
from destinations.tracking_plans import selectors
from destinations.tracking_plans import services as plans
from destinations.tracking_plans.formats import FORMAT_CHECKER
from destinations.tracking_plans.schema import (
    UNPLANNED,
    PlanVerdict,
    PlanViolation,
    compile_rule,
    event_violations,
)
from tests.audit_entries import audit_count, last_entry
from tests.destinations.helpers import data_count, data_get
from tracklayer.exceptions import ConflictError, DomainError, PermissionDeniedError

pytestmark = pytest.mark.django_db

EMAIL = "jane.doe@example.com"

ORDER_COMPLETED = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string", "minLength": 1},
        "total": {"type": "number", "minimum": 0},
        "currency": {"type": "string", "enum": ["USD", "EUR", "GBP"]},
        "coupon": {"type": "string", "maxLength": 32},
        "discount": {"type": "number"},
        "shipping": {"type": "number"},
        "tax": {"type": "number"},
        "quantity": {"type": "integer", "minimum": 1},
        "gift": {"type": "boolean"},
        "products": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"sku": {"type": "string"}, "price": {"type": "number"}},
                "required": ["sku"],
            },
        },
    },
    "required": ["order_id", "total", "currency"],
    "additionalProperties": False,
}
IDENTIFY_TRAITS = {
    "type": "object",
    "properties": {"plan": {"type": "string", "enum": ["free", "pro"]}},
    "required": ["plan"],
}
VALID_ORDER = {
    "order_id": "o-1",
    "total": 25.5,
    "currency": "EUR",
    "quantity": 2,
    "products": [{"sku": "A-1", "price": 12.75}, {"sku": "B-2"}],
}


@pytest.fixture(autouse=True)
def _fresh_plan_cache():
    runtime.runtime_forget()
    yield
    runtime.runtime_forget()


def make_plan(workspace, actor, *, mode="flag", unplanned="allow", schemas=None):
    return plans.tracking_plan_update(
        workspace=workspace,
        actor=actor,
        mode=mode,
        unplanned=unplanned,
        schemas={"Order Completed": ORDER_COMPLETED} if schemas is None else schemas,
    )


def check(compiled, properties=None, *, name="Order Completed", event_type="track", traits=None):
    return compiled.check(
        event_type=event_type, name=name, properties=properties or {}, traits=traits or {}
    )


# --- Saving a plan ---------------------------------------------------------------------------


def test_a_saved_plan_is_versioned_and_audited_with_names_and_hashes(workspace, editor_user):
    make_plan(workspace, editor_user)
    first = last_entry(workspace)

    plan = plans.tracking_plan_update(
        workspace=workspace,
        actor=editor_user,
        mode="block",
        unplanned="flag",
        schemas={"Order Completed": {**ORDER_COMPLETED, "required": []}, "Signed Up": {}},
    )

    assert (plan.version, plan.mode, plan.unplanned, plan.updated_by) == (
        2,
        "block",
        "flag",
        editor_user,
    )
    assert first["event_type"] == "tracking_plan.updated"
    assert first["payload"]["events"] == {
        "added": ["Order Completed"],
        "removed": [],
        "changed": [],
    }
    assert first["payload"]["schemas_sha256"]["before"] is None
    entry = last_entry(workspace)
    payload = entry["payload"]
    assert entry["resource_type"] == "tracking_plan"
    assert payload["mode"] == {"before": "flag", "after": "block"}
    assert payload["unplanned"] == {"before": "allow", "after": "flag"}
    assert payload["version"] == {"before": 1, "after": 2}
    assert payload["events"] == {
        "added": ["Signed Up"],
        "removed": [],
        "changed": ["Order Completed"],
    }
    assert payload["schemas_sha256"]["before"] == first["payload"]["schemas_sha256"]["after"]
    assert len(payload["schemas_sha256"]["after"]) == 64
    assert "properties" not in json.dumps(payload)  # names and hashes, not the schemas


def test_saving_the_same_plan_again_changes_nothing(workspace, editor_user):
    make_plan(workspace, editor_user)
    before = audit_count(workspace)

    plan = make_plan(workspace, editor_user)

    assert plan.version == 1
    assert audit_count(workspace) == before


@pytest.mark.parametrize(
    ("schemas", "field", "says"),
    [
        ({"Order Completed": {"type": "strin"}}, "schemas", "Order Completed"),
        ({"Order Completed": {"properties": {"a": {"minLength": -1}}}}, "schemas", "minLength"),
        ({"Order Completed": {"pattern": "(unclosed"}}, "schemas", "Order Completed"),
        ({"Order Completed": []}, "schemas", "JSON object"),
        ({"Order Completed": {"$ref": "https://example.test/s.json"}}, "schemas", "outside"),
        ({"Order Completed": {"$ref": "#/$defs/missing"}}, "schemas", "points to nothing"),
        ({"Order Completed": {"$id": "https://example.test/x"}}, "schemas", "$id"),
        (
            {"Order Completed": {"$schema": "http://json-schema.org/draft-07/schema#"}},
            "schemas",
            "2020-12",
        ),
        ({"": {}}, "event_name", "empty"),
        ({" padded ": {}}, "event_name", "spaces"),
        ({"$page": {}}, "event_name", "reserved"),
        ({"x" * 201: {}}, "event_name", "200"),
    ],
)
def test_a_bad_schema_or_name_is_refused_and_nothing_is_saved(
    workspace, editor_user, schemas, field, says
):
    before = audit_count(workspace)

    with pytest.raises(DomainError) as caught:
        make_plan(workspace, editor_user, schemas=schemas)

    assert caught.value.field == field
    assert says in caught.value.message
    assert not TrackingPlan.objects.filter(workspace=workspace).exists()
    assert audit_count(workspace) == before


def test_the_schema_error_names_the_event_and_the_problem(workspace, editor_user):
    with pytest.raises(DomainError) as caught:
        make_plan(workspace, editor_user, schemas={"Cart Viewed": {"type": "strin"}})

    assert caught.value.message.startswith("“Cart Viewed”: not a valid JSON Schema")
    assert "$.type" in caught.value.message


@pytest.mark.parametrize(("mode", "unplanned"), [("warn", "allow"), ("flag", "ignore")])
def test_unknown_modes_are_refused(workspace, editor_user, mode, unplanned):
    with pytest.raises(DomainError) as caught:
        make_plan(workspace, editor_user, mode=mode, unplanned=unplanned)

    assert caught.value.field == ("mode" if mode == "warn" else "unplanned")


def test_a_stale_version_is_refused_as_a_conflict(workspace, editor_user, admin_user):
    make_plan(workspace, editor_user)
    plans.tracking_plan_event_save(
        workspace=workspace, actor=admin_user, event_name="Signed Up", schema={}
    )

    with pytest.raises(ConflictError):
        plans.tracking_plan_event_remove(
            workspace=workspace, actor=editor_user, event_name="Signed Up", expected_version=1
        )

    assert "Signed Up" in TrackingPlan.objects.get(workspace=workspace).schemas


def test_events_are_added_renamed_and_removed_one_at_a_time(workspace, editor_user):
    plans.tracking_plan_event_save(
        workspace=workspace, actor=editor_user, event_name="Signed Up", schema={}
    )
    plans.tracking_plan_event_save(
        workspace=workspace,
        actor=editor_user,
        event_name="Account Created",
        schema={"required": ["plan"]},
        previous_name="Signed Up",
        expected_version=1,
    )
    renamed = last_entry(workspace)["payload"]["events"]
    with pytest.raises(DomainError, match="already in the plan"):
        plans.tracking_plan_event_save(
            workspace=workspace, actor=editor_user, event_name="Account Created", schema={}
        )

    plan = plans.tracking_plan_event_remove(
        workspace=workspace, actor=editor_user, event_name="Account Created"
    )

    assert renamed == {"added": ["Account Created"], "removed": ["Signed Up"], "changed": []}
    assert (plan.version, plan.schemas, plan.mode) == (3, {}, "allow")


def test_deleting_the_plan_is_audited_and_keeps_the_violations(workspace, editor_user):
    make_plan(workspace, editor_user)
    plans.tracking_plan_violations_record(
        workspace=workspace,
        violations=[("Order Completed", PlanViolation("properties.total", "type", "x"))],
        seen_at=datetime.now(UTC),
    )

    plans.tracking_plan_delete(workspace=workspace, actor=editor_user)

    entry = last_entry(workspace)
    assert entry["event_type"] == "tracking_plan.deleted"
    assert entry["payload"]["events"] == ["Order Completed"]
    assert runtime.tracking_plan_compiled(workspace=workspace) is None
    assert data_count(TrackingPlanViolation, workspace=workspace) == 1


def test_viewers_cannot_change_or_delete_the_plan(workspace, viewer_user, editor_user):
    with pytest.raises(PermissionDeniedError):
        make_plan(workspace, viewer_user)
    make_plan(workspace, editor_user)
    with pytest.raises(PermissionDeniedError):
        plans.tracking_plan_delete(workspace=workspace, actor=viewer_user)
    with pytest.raises(PermissionDeniedError):
        plans.tracking_plan_import(workspace=workspace, actor=viewer_user, document={"events": {}})
    assert TrackingPlan.objects.get(workspace=workspace).version == 1


# --- Checking events -------------------------------------------------------------------------


def test_a_valid_event_has_no_violations(workspace, editor_user):
    make_plan(workspace, editor_user)
    compiled = runtime.tracking_plan_compiled(workspace=workspace)

    assert check(compiled, VALID_ORDER) == []
    assert compiled.verdict([]) == PlanVerdict.ACCEPT


@pytest.mark.parametrize(
    ("mode", "verdict"),
    [("allow", PlanVerdict.ACCEPT), ("flag", PlanVerdict.FLAG), ("block", PlanVerdict.BLOCK)],
)
def test_the_mode_decides_what_happens_to_a_violating_event(workspace, editor_user, mode, verdict):
    make_plan(workspace, editor_user, mode=mode)
    compiled = runtime.tracking_plan_compiled(workspace=workspace)

    violations = check(compiled, {**VALID_ORDER, "total": -1})

    assert violations == [PlanViolation("properties.total", "minimum", "expected a number ≥ 0")]
    assert compiled.verdict(violations) == verdict


@pytest.mark.parametrize(
    ("unplanned", "violations", "verdict"),
    [
        ("allow", [], PlanVerdict.ACCEPT),
        ("flag", [UNPLANNED], PlanVerdict.FLAG),
        ("block", [UNPLANNED], PlanVerdict.BLOCK),
    ],
)
def test_unplanned_decides_what_happens_to_an_event_name_not_in_the_plan(
    workspace, editor_user, unplanned, violations, verdict
):
    # The plan's mode is "allow": only the unplanned setting counts for unknown names
    make_plan(workspace, editor_user, mode="allow", unplanned=unplanned)
    compiled = runtime.tracking_plan_compiled(workspace=workspace)

    found = check(compiled, {"anything": 1}, name="Coupon Applied")

    assert found == violations
    assert compiled.verdict(found) == verdict


def test_identify_traits_are_checked_against_dollar_identify_and_other_types_are_not(
    workspace, editor_user
):
    make_plan(
        workspace,
        editor_user,
        unplanned="block",
        schemas={"Order Completed": ORDER_COMPLETED, "$identify": IDENTIFY_TRAITS},
    )
    compiled = runtime.tracking_plan_compiled(workspace=workspace)

    assert check(compiled, event_type="identify", name="", traits={"plan": "pro"}) == []
    assert check(compiled, event_type="identify", name="", traits={"plan": "gold"}) == [
        PlanViolation("traits.plan", "enum", 'expected one of "free", "pro"')
    ]
    assert check(compiled, {"x": 1}, event_type="page", name="Home") == []
    assert check(compiled, {"x": 1}, name="$identify") == [UNPLANNED]


def test_violations_name_the_path_and_rule_and_collapse_array_items(workspace, editor_user):
    make_plan(workspace, editor_user)
    compiled = runtime.tracking_plan_compiled(workspace=workspace)

    violations = check(
        compiled,
        {
            "total": "12",
            "currency": "JPY",
            "quantity": 1.5,
            "coupon": "C" * 40,
            "products": [{"price": "free"}, {"price": "gratis"}],
            "affiliate": "x",
        },
    )

    assert {(v.path, v.code): v.message for v in violations} == {
        ("properties.order_id", "required"): "required, missing",
        ("properties.total", "type"): "expected number, got string",
        ("properties.currency", "enum"): 'expected one of "USD", "EUR", "GBP"',
        ("properties.quantity", "type"): "expected integer, got number",
        ("properties.coupon", "maxLength"): "expected at most 32 characters",
        ("properties.products[].sku", "required"): "required, missing",
        ("properties.products[].price", "type"): "expected number, got string",
        ("properties.affiliate", "additionalProperties"): "property is not in the plan",
    }


def test_violations_never_carry_the_values_sent(workspace, editor_user):
    """An e-mail address in a wrong-typed property, in an enum, matched against a pattern
    and used as a property name: nowhere in the violations, nor in the stored counts."""
    schema = {
        "type": "object",
        "properties": {
            "total": {"type": "number"},
            "channel": {"enum": ["web", "app"]},
            "code": {"type": "string", "pattern": "^[A-Z]{4}$"},
            "ref": {"type": "string", "format": "uuid"},
            "tags": {"type": "array", "items": {"type": "integer"}},
        },
        "additionalProperties": False,
    }
    make_plan(workspace, editor_user, schemas={"Order Completed": schema})
    compiled = runtime.tracking_plan_compiled(workspace=workspace)

    violations = check(
        compiled,
        {
            "total": EMAIL,
            "channel": EMAIL,
            "code": EMAIL,
            "ref": EMAIL,
            "tags": [EMAIL],
            EMAIL: True,
        },
    )
    plans.tracking_plan_violations_record(
        workspace=workspace,
        violations=[("Order Completed", violation) for violation in violations],
        seen_at=datetime.now(UTC),
    )

    assert len(violations) == 6
    assert ("properties.*", "additionalProperties") in {(v.path, v.code) for v in violations}
    assert EMAIL not in repr(violations)
    assert "jane" not in repr(violations)
    stored = list(TrackingPlanViolation.objects.for_workspace(workspace).values())
    assert len(stored) == 6
    assert EMAIL not in repr(stored)


def test_a_schema_that_cannot_be_evaluated_does_not_break_ingestion(workspace, editor_user):
    make_plan(workspace, editor_user)
    TrackingPlan.objects.filter(workspace=workspace).update(
        schemas={"Order Completed": {"$ref": "#/$defs/gone"}}, version=9
    )
    runtime.runtime_forget()
    compiled = runtime.tracking_plan_compiled(workspace=workspace)

    assert check(compiled, VALID_ORDER) == [
        PlanViolation("properties", "plan_error", "the plan's schema could not be evaluated")
    ]


def test_compiled_plans_are_cached_and_a_save_is_seen_at_once(
    workspace, editor_user, django_assert_num_queries
):
    assert runtime.tracking_plan_compiled(workspace=workspace) is None  # no plan: cached too
    make_plan(workspace, editor_user)
    first = runtime.tracking_plan_compiled(workspace=workspace)

    with django_assert_num_queries(0):
        again = runtime.tracking_plan_compiled(workspace=workspace)
    make_plan(workspace, editor_user, mode="block")
    changed = runtime.tracking_plan_compiled(workspace=workspace)

    assert again is first
    assert (first.version, changed.version, changed.mode) == (1, 2, "block")


def test_after_the_ttl_an_unchanged_plan_is_not_recompiled(
    workspace, editor_user, django_assert_num_queries
):
    make_plan(workspace, editor_user)
    first = runtime.tracking_plan_compiled(workspace=workspace, clock=lambda: 1000.0)
    after_the_ttl = 1000.0 + runtime.TTL + 1

    with django_assert_num_queries(0):
        cached = runtime.tracking_plan_compiled(workspace=workspace, clock=lambda: 1000.0)
    again = runtime.tracking_plan_compiled(workspace=workspace, clock=lambda: after_the_ttl)

    assert cached is first and again is first


# The fast path must never call an invalid event valid: compare it with jsonschema itself.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(-5, 5, allow_nan=False)
    | st.sampled_from(["", "USD", "EUR", "o-1", EMAIL, "2026-11-23T10:00:00Z", "C" * 40]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["sku", "price", "x"]), children, max_size=3)
    ),
    max_leaves=8,
)
orders = st.fixed_dictionaries(
    {},
    optional={
        name: json_values
        for name in ("order_id", "total", "currency", "coupon", "quantity", "gift", "products")
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orders | json_values)
def test_the_fast_path_agrees_with_jsonschema(instance):
    schema = {
        **ORDER_COMPLETED,
        "properties": {
            **ORDER_COMPLETED["properties"],
            "sent": {"type": "string", "format": "date-time"},
            "code": {"type": ["string", "null"], "pattern": "^o-", "minLength": 2},
        },
        "maxProperties": 6,
    }
    rule = compile_rule(schema)
    reference = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)

    assert rule.fast is not None
    if rule.fast(instance):
        assert reference.is_valid(instance)
    assert (event_violations(rule, instance, "properties") == []) == reference.is_valid(instance)


# --- Counting violations ---------------------------------------------------------------------


def test_violations_are_aggregated_per_event_path_and_rule(workspace, other_workspace):
    t0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    total = PlanViolation("properties.total", "type", "expected number, got string")
    currency = PlanViolation("properties.currency", "enum", "expected one of 3 values")

    plans.tracking_plan_violations_record(
        workspace=workspace,
        violations=[("Order Completed", total)] * 3 + [("Order Completed", currency)],
        seen_at=t0,
    )
    plans.tracking_plan_violations_record(
        workspace=workspace,
        violations=[("Order Completed", total), ("Cart Viewed", total)],
        seen_at=t0 + timedelta(minutes=5),
    )
    plans.tracking_plan_violations_record(
        workspace=other_workspace, violations=[("Order Completed", total)], seen_at=t0
    )

    rows = {
        (row.event_name, row.path, row.code): row
        for row in selectors.tracking_plan_violations_list(workspace=workspace)
    }
    assert {key: row.count for key, row in rows.items()} == {
        ("Order Completed", "properties.total", "type"): 4,
        ("Order Completed", "properties.currency", "enum"): 1,
        ("Cart Viewed", "properties.total", "type"): 1,
    }
    total_row = rows[("Order Completed", "properties.total", "type")]
    assert (total_row.first_seen, total_row.last_seen) == (t0, t0 + timedelta(minutes=5))
    assert total_row.example_message == "expected number, got string"
    assert data_get(TrackingPlanViolation, workspace=other_workspace).count == 1


def test_recording_nothing_touches_nothing(workspace, django_assert_num_queries):
    with django_assert_num_queries(0):
        plans.tracking_plan_violations_record(
            workspace=workspace, violations=[], seen_at=datetime.now(UTC)
        )


# --- Import and export -----------------------------------------------------------------------


def test_export_then_import_round_trips(workspace, other_workspace, editor_user, other_admin_user):
    make_plan(
        workspace,
        editor_user,
        mode="block",
        unplanned="flag",
        schemas={"Order Completed": ORDER_COMPLETED, "$identify": IDENTIFY_TRAITS},
    )
    document = selectors.tracking_plan_export(workspace=workspace)

    plan = plans.tracking_plan_import(
        workspace=other_workspace,
        actor=other_admin_user,
        document=json.loads(json.dumps(document)),
    )

    assert list(document) == ["mode", "unplanned", "events"]
    assert list(document["events"]) == ["$identify", "Order Completed"]
    assert selectors.tracking_plan_export(workspace=other_workspace) == document
    assert (plan.mode, plan.unplanned) == ("block", "flag")
    assert last_entry(other_workspace)["payload"]["source"] == "import"


def test_without_a_plan_the_export_is_an_empty_plan(workspace):
    assert selectors.tracking_plan_export(workspace=workspace) == {
        "mode": "allow",
        "unplanned": "allow",
        "events": {},
    }


def test_an_import_replaces_the_events_and_keeps_modes_it_does_not_name(workspace, editor_user):
    make_plan(workspace, editor_user, mode="block", unplanned="flag")

    plan = plans.tracking_plan_import(
        workspace=workspace, actor=editor_user, document={"events": {"Signed Up": {}}}
    )

    assert (plan.mode, plan.unplanned, list(plan.schemas)) == ("block", "flag", ["Signed Up"])
    assert last_entry(workspace)["payload"]["events"]["removed"] == ["Order Completed"]


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ([], "JSON object"),
        ({"mode": "flag"}, "needs “events”"),
        ({"events": []}, "needs “events”"),
        ({"events": {}, "owner": "me"}, "Unknown key 'owner'"),
        ({"events": {"Order Completed": {"type": 1}}}, "“Order Completed”"),
        ({"events": {}, "mode": "strict"}, "Mode must be one of"),
    ],
)
def test_a_bad_import_is_refused_with_a_clear_message(workspace, editor_user, document, says):
    with pytest.raises(DomainError) as caught:
        plans.tracking_plan_import(workspace=workspace, actor=editor_user, document=document)

    assert says in caught.value.message
    assert not TrackingPlan.objects.filter(workspace=workspace).exists()


# --- Pages -----------------------------------------------------------------------------------


def url(name, workspace):
    return reverse(f"destinations:{name}", args=[workspace.slug])


def test_viewer_sees_the_plan_and_violations_read_only(client, workspace, editor_user, viewer_user):
    make_plan(workspace, editor_user)
    plans.tracking_plan_violations_record(
        workspace=workspace,
        violations=[("Order Completed", PlanViolation("properties.total", "type", "expected n"))],
        seen_at=datetime.now(UTC),
    )
    client.force_login(viewer_user)

    page = client.get(url("tracking-plan", workspace))
    refused = client.post(
        url("tracking-plan-mode", workspace), {"mode": "block", "unplanned": "block", "version": 1}
    )

    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-event="Order Completed"' in html
    assert 'data-path="properties.total"' in html
    assert "disabled" in html
    assert "Save schema" not in html
    assert "Import JSON" not in html
    assert refused.status_code == 403
    assert TrackingPlan.objects.get(workspace=workspace).mode == "flag"


def test_editor_adds_an_event_from_the_page(client, workspace, editor_user):
    client.force_login(editor_user)

    response = client.post(
        url("tracking-plan-event-save", workspace),
        {"event_name": "Signed Up", "schema": '{"required": ["plan"]}', "version": 0},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    assert "“Signed Up” saved." in response.content.decode()
    plan = TrackingPlan.objects.get(workspace=workspace)
    assert plan.schemas == {"Signed Up": {"required": ["plan"]}}
    assert last_entry(workspace)["event_type"] == "tracking_plan.updated"


@pytest.mark.parametrize(
    ("schema", "says"),
    [
        ('{"type": "object",}', "Not valid JSON"),
        ('{"type": "strin"}', "“Cart Viewed”: not a valid JSON Schema"),
        ('{"maximum": NaN}', "Not valid JSON"),
    ],
)
def test_schema_errors_are_shown_on_the_field(client, workspace, editor_user, schema, says):
    client.force_login(editor_user)

    response = client.post(
        url("tracking-plan-event-save", workspace),
        {"event_name": "Cart Viewed", "schema": schema, "version": 0},
        HTTP_HX_REQUEST="true",
    )

    html = response.content.decode()
    assert response.status_code == 422
    assert 'class="field field-invalid"' in html
    assert says in html
    assert schema.replace('"', "&quot;") in html  # the input is kept for correction


def test_editor_imports_a_pasted_plan_and_exports_it(client, workspace, editor_user):
    client.force_login(editor_user)
    document = {"mode": "flag", "events": {"Order Completed": ORDER_COMPLETED}}

    imported = client.post(
        url("tracking-plan-import", workspace), {"document": json.dumps(document), "version": 0}
    )
    exported = client.get(url("tracking-plan-export", workspace))

    assert imported.status_code == 200
    assert exported["Content-Disposition"] == (
        f'attachment; filename="tracking-plan-{workspace.slug}.json"'
    )
    assert json.loads(exported.content) == {**document, "unplanned": "allow"}


def test_an_uploaded_file_is_imported_and_errors_are_shown(client, workspace, editor_user):

    client.force_login(editor_user)
    good = SimpleUploadedFile("plan.json", b'{"events": {"Signed Up": {}}}')
    bad = SimpleUploadedFile("plan.json", b'{"events": {"Signed Up": {"type": 3}}}')

    imported = client.post(url("tracking-plan-import", workspace), {"file": good, "version": 0})
    refused = client.post(url("tracking-plan-import", workspace), {"file": bad, "version": 1})

    assert imported.status_code == 200
    assert refused.status_code == 422
    assert "“Signed Up”: not a valid JSON Schema" in refused.content.decode()
    assert list(TrackingPlan.objects.get(workspace=workspace).schemas) == ["Signed Up"]


def test_a_change_on_a_stale_page_is_refused_as_a_conflict(client, workspace, editor_user):
    make_plan(workspace, editor_user)
    make_plan(workspace, editor_user, mode="block")
    client.force_login(editor_user)

    response = client.post(
        url("tracking-plan-mode", workspace),
        {"mode": "allow", "unplanned": "allow", "version": 1},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 409
    assert "changed since you opened it" in response.content.decode()
    assert TrackingPlan.objects.get(workspace=workspace).mode == "block"


def test_editor_removes_an_event_and_deletes_the_plan(client, workspace, editor_user):
    make_plan(workspace, editor_user, schemas={"A": {}, "B": {}})
    client.force_login(editor_user)

    removed = client.post(
        url("tracking-plan-event-remove", workspace), {"event_name": "A", "version": 1}
    )
    deleted = client.post(url("tracking-plan-delete", workspace), {"version": 2})

    assert removed.status_code == deleted.status_code == 200
    assert not TrackingPlan.objects.filter(workspace=workspace).exists()
    assert last_entry(workspace)["event_type"] == "tracking_plan.deleted"
