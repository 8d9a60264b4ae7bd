"""The tracking plan's fast path (destinations/tracking_plans/fast_path.py) is worth having only
if it answers: for every valid event of a schema it covers, it must say "certainly valid".
(That it never calls an invalid event valid is checked against jsonschema in
test_tracking_plans.py.) A fast path that always answers "unsure" passes that test and fails
this one. Valid events are generated from the schema itself (``valid_instances`` below covers
the keywords the fast path implements; hypothesis-jsonschema would, but it does not run with
current Hypothesis)."""

import re
from datetime import UTC

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from destinations.tracking_plans.fast_path import fast_validity
from destinations.tracking_plans.formats import FORMAT_CHECKER
from destinations.tracking_plans.schema import compile_rule, event_violations

# Schemas made only of the keywords the fast path implements, enums of strings (a non-string
# enum is one of the cases it leaves to jsonschema on purpose).
ORDER_COMPLETED = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string", "minLength": 1, "maxLength": 40},
        "total": {"type": "number", "minimum": 0, "maximum": 100000},
        "currency": {"type": "string", "enum": ["USD", "EUR", "GBP"]},
        "coupon": {"type": "string", "maxLength": 32},
        "quantity": {"type": "integer", "minimum": 1, "exclusiveMaximum": 1000},
        "gift": {"type": "boolean"},
        "note": {"type": ["string", "null"]},
        "sent": {"type": "string", "format": "date-time"},
        "code": {"type": "string", "pattern": "^o-[0-9]+$"},
        "products": {
            "type": "array",
            "maxItems": 5,
            "items": {
                "type": "object",
                "properties": {
                    "sku": {"type": "string", "minLength": 1},
                    "price": {"type": "number", "exclusiveMinimum": 0},
                },
                "required": ["sku"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["order_id", "total", "currency"],
    "maxProperties": 8,
}
SIGNED_UP = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Signed Up",
    "type": "object",
    "properties": {
        "plan": {"const": "pro"},
        "email": {"type": "string", "format": "email"},
        "referrer": {"type": "string", "format": "uuid"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
    "required": ["plan"],
    "additionalProperties": {"type": ["string", "integer"]},
    "minProperties": 1,
}
ANYTHING_GOES = {"description": "no assertion at all"}
SCHEMAS = {"order": ORDER_COMPLETED, "signup": SIGNED_UP, "anything": ANYTHING_GOES}


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
ANY_JSON = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
FORMATS = {
    "date-time": st.datetimes(timezones=st.just(UTC)).map(lambda moment: moment.isoformat()),
    "email": st.emails(),
    "uuid": st.uuids().map(str),
}


def _string(schema):
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    if "format" in schema:
        strategy = FORMATS[schema["format"]]
    elif "pattern" in schema:
        strategy = st.from_regex(re.compile(schema["pattern"]))
    else:
        return st.text(min_size=low, max_size=high)
    return strategy.filter(lambda text: low <= len(text) and (high is None or len(text) <= high))


def _number(schema, *, integer: bool):
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    excl_low, excl_high = "exclusiveMinimum" in schema, "exclusiveMaximum" in schema
    ints = st.integers(
        min_value=None if low is None else low + excl_low,
        max_value=None if high is None else high - excl_high,
    )
    if integer:
        return ints
    floats = st.floats(
        min_value=low,
        max_value=high,
        exclude_min=excl_low,
        exclude_max=excl_high,
        allow_nan=False,
        allow_infinity=False,
    )
    return ints | floats


def _object(schema):
    properties = schema.get("properties", {})
    required = set(schema.get("required", ()))
    extra = schema.get("additionalProperties", True)
    strategy = st.fixed_dictionaries(
        {name: valid_instances(sub) for name, sub in properties.items() if name in required},
        optional={
            name: valid_instances(sub) for name, sub in properties.items() if name not in required
        },
    )
    if extra is not False:
        more = st.dictionaries(
            st.text(max_size=8).filter(lambda key: key not in properties),
            valid_instances(extra),
            max_size=3,
        )
        strategy = st.tuples(strategy, more).map(lambda pair: {**pair[1], **pair[0]})
    low, high = schema.get("minProperties", 0), schema.get("maxProperties")
    return strategy.filter(lambda value: low <= len(value) and (high is None or len(value) <= high))


def valid_instances(schema):
    """Instances valid against ``schema`` (the fast path's keywords), as JSON parsing makes
    them: an integer where one is expected, never 1.0."""
    if schema is True:
        return ANY_JSON
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kinds = schema.get("type")
    if kinds is None:
        return ANY_JSON
    by_kind = {
        "string": lambda: _string(schema),
        "integer": lambda: _number(schema, integer=True),
        "number": lambda: _number(schema, integer=False),
        "boolean": st.booleans,
        "null": st.none,
        "array": lambda: st.lists(
            valid_instances(schema.get("items", True)),
            min_size=schema.get("minItems", 0),
            max_size=schema.get("maxItems"),
        ),
        "object": lambda: _object(schema),
    }
    kinds = [kinds] if isinstance(kinds, str) else kinds
    return st.one_of(*(by_kind[kind]() for kind in kinds))


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_schema_here_is_one_the_fast_path_covers(name):
    assert fast_validity(SCHEMAS[name]) is not None


@pytest.mark.parametrize("name", sorted(SCHEMAS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_fast_path_answers_certainly_valid_for_valid_events(name, data):
    schema = SCHEMAS[name]
    instance = data.draw(valid_instances(schema), label="event properties")
    # The generator is simpler than JSON Schema; what it gets wrong is not the fast path's fault.
    assume(Draft202012Validator(schema, format_checker=FORMAT_CHECKER).is_valid(instance))
    rule = compile_rule(schema)

    assert rule.fast(instance) is True
    assert event_violations(rule, instance, "properties") == []
