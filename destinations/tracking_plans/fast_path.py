"""The fast path: a predicate compiled from a schema that answers "certainly valid" in a few µs.

jsonschema spends 100-200 µs on a typical event; most events are valid. For schemas made only
of the keywords below, the predicate answers True only for instances valid against the schema.
It is conservative: whatever it is unsure of (a float where an integer is expected, a
non-string enum, any other keyword) answers False, and jsonschema decides — so the outcome is
always jsonschema's. Two properties are tested (tests/destinations/test_tracking_plan_fast_path.py):
it never calls an invalid event valid, and it does answer True for the valid events it covers.
Why it exists at all: docs/adr/ (the JSON Schema fast path).
"""

import re
from collections.abc import Callable

from destinations.tracking_plans.formats import FORMAT_CHECKER

_NOT_ASSERTING = frozenset(
    {
        "$schema",
        "$comment",
        "$defs",
        "title",
        "description",
        "examples",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
    }
)
_FAST_KEYWORDS = _NOT_ASSERTING | {
    "type",
    "enum",
    "const",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "format",
}
_FAST_TYPES: dict[str, Callable[[object], bool]] = {
    "object": lambda value: type(value) is dict,
    "array": lambda value: type(value) is list,
    "string": lambda value: type(value) is str,
    "integer": lambda value: type(value) is int,
    "number": lambda value: type(value) is int or type(value) is float,
    "boolean": lambda value: type(value) is bool,
    "null": lambda value: value is None,
}
_MISSING = object()
# What JSON parsing produces. Anything else (a subclass, a Decimal) is left to jsonschema.
_PLAIN = frozenset({str, int, float, bool, dict, list, type(None)})


def fast_validity(schema) -> Callable[[object], bool] | None:
    """A predicate that is True only for instances valid against ``schema``, or None."""
    if schema is True:
        return lambda value: True
    if schema is False or not isinstance(schema, dict) or not set(schema) <= _FAST_KEYWORDS:
        return None
    checks: list[Callable[[object], bool]] = []

    if "type" in schema:
        names = [schema["type"]] if isinstance(schema["type"], str) else list(schema["type"])
        tests = [_FAST_TYPES[name] for name in names if name in _FAST_TYPES]
        if len(tests) == 1:
            checks.append(tests[0])
        else:
            checks.append(lambda value: any(test(value) for test in tests))
    for keyword in ("enum", "const"):
        if keyword in schema:
            allowed = schema["enum"] if keyword == "enum" else [schema["const"]]
            strings = frozenset(item for item in allowed if isinstance(item, str))
            checks.append(lambda value, strings=strings: type(value) is str and value in strings)

    numeric = [
        (schema[keyword], test)
        for keyword, test in (
            ("minimum", lambda value, bound: value >= bound),
            ("maximum", lambda value, bound: value <= bound),
            ("exclusiveMinimum", lambda value, bound: value > bound),
            ("exclusiveMaximum", lambda value, bound: value < bound),
        )
        if keyword in schema
    ]
    if numeric:

        def number(value) -> bool:
            if type(value) is int or type(value) is float:
                return all(test(value, bound) for bound, test in numeric)
            return type(value) in _PLAIN  # another JSON type: the keywords do not apply

        checks.append(number)

    lengths = (schema.get("minLength", 0), schema.get("maxLength"))
    pattern = re.compile(schema["pattern"]) if "pattern" in schema else None
    text_format = schema.get("format")
    if lengths != (0, None) or pattern is not None or text_format is not None:

        def text(value, low=lengths[0], high=lengths[1]) -> bool:
            if type(value) is not str:
                return type(value) in _PLAIN
            return (
                low <= len(value)
                and (high is None or len(value) <= high)
                and (pattern is None or pattern.search(value) is not None)
                and (text_format is None or FORMAT_CHECKER.conforms(value, text_format))
            )

        checks.append(text)

    if "items" in schema or "minItems" in schema or "maxItems" in schema:
        item = fast_validity(schema.get("items", True))
        if item is None:
            return None
        low, high = schema.get("minItems", 0), schema.get("maxItems")

        def array(value) -> bool:
            if type(value) is not list:
                return type(value) in _PLAIN
            if len(value) < low or (high is not None and len(value) > high):
                return False
            for element in value:  # noqa: SIM110 - see every()
                if not item(element):
                    return False
            return True

        checks.append(array)

    object_keywords = {"properties", "required", "additionalProperties"}
    object_keywords |= {"minProperties", "maxProperties"}
    if object_keywords & set(schema):
        properties = {}
        for name, subschema in schema.get("properties", {}).items():
            properties[name] = fast_validity(subschema)
            if properties[name] is None:
                return None
        extra = fast_validity(schema.get("additionalProperties", True))
        if extra is None and schema.get("additionalProperties") is not False:
            return None
        required = tuple(schema.get("required", ()))
        low, high = schema.get("minProperties", 0), schema.get("maxProperties")
        declared = tuple(properties.items())
        extra_checked = schema.get("additionalProperties", True) is not True  # once, not per event

        def obj(value) -> bool:
            if type(value) is not dict:
                return type(value) in _PLAIN
            if len(value) < low or (high is not None and len(value) > high):
                return False
            for name in required:
                if name not in value:
                    return False
            for name, test in declared:
                found = value.get(name, _MISSING)
                if found is not _MISSING and not test(found):
                    return False
            if extra is None:  # additionalProperties: false
                return all(key in properties for key in value)
            if extra_checked:
                return all(extra(item) for key, item in value.items() if key not in properties)
            return True

        checks.append(obj)

    if len(checks) == 1:
        return checks[0]

    def every(value) -> bool:
        for check in checks:  # noqa: SIM110 - a loop costs a third of all() over a generator
            if not check(value):
                return False
        return True

    return every
