"""Tracking plans: a JSON Schema (Draft 2020-12) per event name, checked on ingestion.

Ingestion asks ``tracking_plan_compiled`` once per request (cached in this process, see
below), calls ``CompiledPlan.check`` for every event and ``CompiledPlan.verdict`` on what it
found, and hands the violations of the whole batch to ``tracking_plan_violations_record``
inside its write transaction. Everything else here serves Settings → Tracking plan: the
services (all audited) and the selectors. The semantics are in docs/tracking-plans.md.

Violations never carry an event's values: a violation is the property's path, the JSON
Schema keyword that failed and a message built from the *schema* (what was expected), so
they can be stored and shown without minimisation.
"""

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from django.db import connection, transaction
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from audit.services import audit_record
from destinations.models import TrackingPlan, TrackingPlanMode, TrackingPlanViolation
from tracklayer.exceptions import ConflictError, DomainError
from workspaces import policy as access

logger = logging.getLogger(__name__)

IDENTIFY = "$identify"  # the plan's key for the schema of identify traits
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
MODES = tuple(TrackingPlanMode.values)
MAX_EVENTS = 500
MAX_PLAN_BYTES = 512 * 1024  # the canonical JSON of all schemas together
MAX_NAME_LENGTH = 200
MAX_VIOLATIONS_PER_EVENT = 20
CACHE_TTL_SECONDS = 5.0  # how stale another process's view of a plan may be
_CACHE_MAX_WORKSPACES = 10_000
_RECORD_CHUNK = 1000


# --- Checking events ----------------------------------------------------------------------


class PlanVerdict(StrEnum):
    ACCEPT = "accept"  # store as usual (status "ok")
    FLAG = "flag"  # store with status "flagged" and the violations on the event
    BLOCK = "block"  # reject the event (a per-event error in the response)


@dataclass(frozen=True)
class PlanViolation:
    path: str  # "properties.products[].price", "traits.email", "event"
    code: str  # the JSON Schema keyword that failed, "unplanned" or "plan_error"
    message: str  # built from the schema, never from the event's values

    def to_dict(self) -> dict:
        return {"path": self.path, "code": self.code, "message": self.message}


UNPLANNED = PlanViolation("event", "unplanned", "event name is not in the tracking plan")


def _format_checker() -> FormatChecker:
    """The formats asserted, fixed here rather than by whichever optional packages happen to
    be installed (jsonschema checks some formats only when extra libraries are present)."""
    checker = FormatChecker(formats=("email", "idn-email", "ipv4", "ipv6", "date", "uuid", "regex"))
    checker.checks("date-time", raises=ValueError)(_is_date_time)
    return checker


_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z", re.ASCII
)


def _is_date_time(value) -> bool:
    """RFC 3339 date-time (with an offset, as JSON Schema requires)."""
    if not isinstance(value, str):
        return True  # format applies to strings only
    if not _DATE_TIME.match(value):
        return False
    datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))  # ValueError: not real
    return True


FORMAT_CHECKER = _format_checker()


@dataclass(frozen=True)
class _Rule:
    validator: Draft202012Validator
    known_names: frozenset[str]  # property names the schema declares (safe to show)
    # True only when the instance is certainly valid; None when the schema uses keywords the
    # fast path does not implement. False means "ask jsonschema", which has the last word.
    fast: Callable[[object], bool] | None = None


@dataclass(frozen=True)
class CompiledPlan:
    """A plan ready for the hot path: one compiled validator per event name."""

    mode: str
    unplanned: str
    version: int
    events: Mapping[str, _Rule] = field(default_factory=dict, repr=False, compare=False)
    identify: _Rule | None = field(default=None, repr=False, compare=False)

    def check(
        self, *, event_type: str, name: str, properties: dict, traits: dict
    ) -> list[PlanViolation]:
        """The plan's violations by one event (at most ``MAX_VIOLATIONS_PER_EVENT``, one per
        path and keyword). Only track events (``properties`` against the schema of ``name``)
        and identify events (``traits`` against ``$identify``) are checked. Never raises."""
        if event_type == "track":
            rule = self.events.get(name)
            if rule is None:
                return [] if self.unplanned == TrackingPlanMode.ALLOW else [UNPLANNED]
            return _violations(rule, properties, "properties")
        if event_type == "identify" and self.identify is not None:
            return _violations(self.identify, traits, "traits")
        return []

    def verdict(self, violations: list[PlanViolation]) -> PlanVerdict:
        """What ingestion does with an event that has ``violations`` (from ``check``)."""
        if not violations:
            return PlanVerdict.ACCEPT
        setting = self.unplanned if violations[0] == UNPLANNED else self.mode
        return {
            TrackingPlanMode.ALLOW: PlanVerdict.ACCEPT,
            TrackingPlanMode.FLAG: PlanVerdict.FLAG,
            TrackingPlanMode.BLOCK: PlanVerdict.BLOCK,
        }[setting]


def _violations(rule: _Rule, instance, root: str) -> list[PlanViolation]:
    if rule.fast is not None and rule.fast(instance):
        return []
    found: dict[tuple[str, str], PlanViolation] = {}
    try:
        for error in rule.validator.iter_errors(instance):
            for violation in _describe(error, rule.known_names, root):
                found.setdefault((violation.path, violation.code), violation)
            if len(found) >= MAX_VIOLATIONS_PER_EVENT:
                break
    except Exception as error:  # an unresolvable $ref, a recursion too deep, a bug
        # A plan that cannot be evaluated must not take ingestion down with it. Only the
        # exception's type is logged: its message could quote the event's values.
        logger.warning("tracking plan schema could not be evaluated: %s", type(error).__name__)
        return [PlanViolation(root, "plan_error", "the plan's schema could not be evaluated")]
    return list(found.values())[:MAX_VIOLATIONS_PER_EVENT]


# Property names taken from the event (not declared by the schema) appear in a path only when
# they look like identifiers; anything else (an e-mail address used as a key) becomes "*".
_SAFE_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]{0,63}\Z", re.ASCII)
_JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def _segment(name: str, known: frozenset[str]) -> str:
    return name if name in known or _SAFE_NAME.match(name) else "*"


def _path(root: str, parts: Iterable, known: frozenset[str]) -> str:
    path = root
    for part in parts:
        path += "[]" if isinstance(part, int) else "." + _segment(str(part), known)
    return path[:300]


def _shown(value, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plural(count, word: str, words: str | None = None) -> str:
    return f"{count} {word if count == 1 else words or word + 's'}"


def _describe(error, known: frozenset[str], root: str) -> list[PlanViolation]:
    """One jsonschema error as violations. Only the schema (``validator_value``, ``schema``),
    the instance's *type* and the names of its keys are read — never its values."""
    keyword = error.validator
    expected = error.validator_value
    instance = error.instance
    base = _path(root, error.absolute_path, known)
    if keyword == "required" and isinstance(instance, dict):
        return [
            PlanViolation(f"{base}.{_segment(name, known)}", "required", "required, missing")
            for name in expected
            if name not in instance
        ]
    if keyword == "dependentRequired" and isinstance(instance, dict):
        return [
            PlanViolation(
                f"{base}.{_segment(needed, known)}",
                "dependentRequired",
                f"required when {_segment(name, known)} is present, missing",
            )
            for name, needs in expected.items()
            if name in instance
            for needed in needs
            if needed not in instance
        ]
    if keyword == "additionalProperties" and isinstance(instance, dict):
        declared = error.schema.get("properties", {})
        patterns = [re.compile(pattern) for pattern in error.schema.get("patternProperties", {})]
        return [
            PlanViolation(
                f"{base}.{_segment(name, known)}",
                "additionalProperties",
                "property is not in the plan",
            )
            for name in instance
            if name not in declared and not any(pattern.search(name) for pattern in patterns)
        ]
    return [PlanViolation(base, str(keyword or "false"), _message(keyword, expected, instance))]


def _message(keyword, expected, instance) -> str:
    match keyword:
        case "type":
            types = [expected] if isinstance(expected, str) else list(expected)
            got = _JSON_TYPES.get(type(instance), "value")
            return f"expected {' or '.join(types)}, got {got}"
        case "enum":
            if len(expected) <= 5 and len(_shown(expected, 200)) < 200:
                return "expected one of " + ", ".join(_shown(value) for value in expected)
            return f"expected one of the {len(expected)} allowed values"
        case "const":
            return "expected the constant value the plan sets"
        case "minimum":
            return f"expected a number ≥ {expected}"
        case "exclusiveMinimum":
            return f"expected a number > {expected}"
        case "maximum":
            return f"expected a number ≤ {expected}"
        case "exclusiveMaximum":
            return f"expected a number < {expected}"
        case "multipleOf":
            return f"expected a multiple of {expected}"
        case "minLength":
            return f"expected at least {_plural(expected, 'character')}"
        case "maxLength":
            return f"expected at most {_plural(expected, 'character')}"
        case "pattern":
            return f"expected to match the pattern {_shown(expected, 120)}"
        case "format":
            return f"expected format {_shown(expected)}"
        case "minItems":
            return f"expected at least {_plural(expected, 'item')}"
        case "maxItems":
            return f"expected at most {_plural(expected, 'item')}"
        case "uniqueItems":
            return "expected unique items"
        case "minProperties":
            return f"expected at least {_plural(expected, 'property', 'properties')}"
        case "maxProperties":
            return f"expected at most {_plural(expected, 'property', 'properties')}"
        case "contains":
            return "expected an item matching the plan's contains schema"
        case "minContains":
            return f"expected at least {_plural(expected, 'matching item')}"
        case "maxContains":
            return f"expected at most {_plural(expected, 'matching item')}"
        case "anyOf":
            return "matches none of the plan's alternatives (anyOf)"
        case "oneOf":
            return "must match exactly one of the plan's alternatives (oneOf)"
        case "not":
            return "matches a schema the plan forbids (not)"
        case "unevaluatedProperties":
            return "has properties the plan does not define"
        case "unevaluatedItems" | "items":
            return "has more items than the plan allows"
        case None:
            return "not allowed by the plan"
    return f"does not satisfy {keyword}"


# --- Compiling and caching ----------------------------------------------------------------


def _declared_names(schema) -> frozenset[str]:
    """Every property name the schema itself declares (in properties, required,
    dependentRequired, dependentSchemas), wherever it is nested."""
    names: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("enum", "const", "default", "examples"):
                    continue
                if key in ("properties", "dependentSchemas", "dependentRequired") and isinstance(
                    value, dict
                ):
                    names.update(value)
                if key == "required" and isinstance(value, list):
                    names.update(item for item in value if isinstance(item, str))
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return frozenset(names)


def _rule(schema: dict) -> _Rule:
    return _Rule(
        validator=Draft202012Validator(schema, format_checker=FORMAT_CHECKER),
        known_names=_declared_names(schema),
        fast=_fast_validity(schema),
    )


# --- The fast path ---------------------------------------------------------------------------
#
# jsonschema spends 100-200 µs on a typical event; most events are valid. For schemas made
# only of the keywords below, a predicate compiled from the schema answers "certainly valid"
# in a few µs. It is conservative: whatever it is unsure of (a float where an integer is
# expected, a non-string enum, any other keyword) answers False, and jsonschema decides —
# so the outcome is always jsonschema's (tests/destinations/test_tracking_plans.py checks it
# against jsonschema on generated events).

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


def _fast_validity(schema) -> Callable[[object], bool] | None:
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
        item = _fast_validity(schema.get("items", True))
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
            properties[name] = _fast_validity(subschema)
            if properties[name] is None:
                return None
        extra = _fast_validity(schema.get("additionalProperties", True))
        if extra is None and schema.get("additionalProperties") is not False:
            return None
        required = tuple(schema.get("required", ()))
        low, high = schema.get("minProperties", 0), schema.get("maxProperties")
        declared = tuple(properties.items())

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
            if schema.get("additionalProperties", True) is not True:
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


def tracking_plan_compile(plan: TrackingPlan) -> CompiledPlan:
    return CompiledPlan(
        mode=plan.mode,
        unplanned=plan.unplanned,
        version=plan.version,
        events=MappingProxyType(
            {name: _rule(schema) for name, schema in plan.schemas.items() if name != IDENTIFY}
        ),
        identify=_rule(plan.schemas[IDENTIFY]) if IDENTIFY in plan.schemas else None,
    )


@dataclass(frozen=True)
class _Cached:
    fresh_until: float
    key: tuple[int, int] | None  # (plan row id, version); None: the workspace has no plan
    compiled: CompiledPlan | None


_cache: dict[int, _Cached] = {}


def tracking_plan_compiled(*, workspace) -> CompiledPlan | None:
    """The workspace's plan, compiled, or None without one.

    Cached in this process per workspace: within ``CACHE_TTL_SECONDS`` no query at all;
    after that one indexed query for (id, version), and the plan is loaded and compiled
    again only when that changed. A save in this process drops the entry at once (and again
    at commit); other processes see a change at most ``CACHE_TTL_SECONDS`` after its commit.
    """
    now = time.monotonic()
    cached = _cache.get(workspace.pk)
    if cached is not None and cached.fresh_until > now:
        return cached.compiled
    key = TrackingPlan.objects.filter(workspace=workspace).values_list("pk", "version").first()
    if cached is not None and cached.key == key:
        compiled = cached.compiled
    elif key is None:
        compiled = None
    else:
        plan = TrackingPlan.objects.filter(pk=key[0]).first()
        compiled = tracking_plan_compile(plan) if plan is not None else None
        key = (plan.pk, plan.version) if plan is not None else None
    if len(_cache) >= _CACHE_MAX_WORKSPACES:
        _cache.clear()
    _cache[workspace.pk] = _Cached(now + CACHE_TTL_SECONDS, key, compiled)
    return compiled


def tracking_plan_cache_clear() -> None:
    """Forget every compiled plan of this process (tests)."""
    _cache.clear()


def _forget(workspace_pk: int) -> None:
    _cache.pop(workspace_pk, None)
    # Ingestion keeps its own per-workspace snapshot (settings, consent, this plan) for a few
    # seconds; drop it too, so this process sees the change at once.
    try:
        from destinations.ingestion.runtime import runtime_forget
    except ImportError:  # pragma: no cover - ingestion is optional for this module
        return
    runtime_forget(workspace_pk)


# --- Reads ----------------------------------------------------------------------------------


def tracking_plan_get(*, workspace) -> TrackingPlan | None:
    return TrackingPlan.objects.filter(workspace=workspace).select_related("updated_by").first()


def tracking_plan_violations_list(*, workspace, limit: int = 200) -> list[TrackingPlanViolation]:
    """The drift report: the most recently seen violations first."""
    return list(
        TrackingPlanViolation.objects.filter(workspace=workspace).order_by(
            "-last_seen", "event_name", "path", "code"
        )[:limit]
    )


def tracking_plan_export(*, workspace) -> dict:
    """The plan as a document — also what ``tracking_plan_import`` takes. Without a plan,
    an empty one with the defaults."""
    plan = tracking_plan_get(workspace=workspace)
    if plan is None:
        return {"mode": "allow", "unplanned": "allow", "events": {}}
    return {
        "mode": plan.mode,
        "unplanned": plan.unplanned,
        "events": {name: plan.schemas[name] for name in sorted(plan.schemas)},
    }


# --- Changes ----------------------------------------------------------------------------------


def _canonical(value) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def _sha256(schemas: dict | None) -> str | None:
    return None if schemas is None else hashlib.sha256(_canonical(schemas)).hexdigest()


def _check_choice(name: str, value) -> None:
    if value not in MODES:
        raise DomainError(f"{name.capitalize()} must be one of: {', '.join(MODES)}.", field=name)


def _check_name(name) -> None:
    if not isinstance(name, str) or not name.strip():
        raise DomainError("An event name cannot be empty.", field="event_name")
    if name != name.strip() or any(ord(char) < 32 for char in name):
        raise DomainError(
            f"The event name {name[:60]!r} has spaces at its ends or control characters.",
            field="event_name",
        )
    if len(name) > MAX_NAME_LENGTH:
        raise DomainError(
            f"Event names are at most {MAX_NAME_LENGTH} characters.", field="event_name"
        )
    if name.startswith("$") and name != IDENTIFY:
        raise DomainError(
            f"Names starting with $ are reserved; {IDENTIFY} is the schema for identify traits.",
            field="event_name",
        )


def _refs(schema) -> Iterable[tuple[str, str]]:
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("enum", "const", "default", "examples"):
                    continue
                if key in ("$ref", "$id") and isinstance(value, str):
                    yield key, value
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)


def _check_schema(name: str, schema, *, field: str) -> None:
    """Draft 2020-12, valid against its meta-schema, and self-contained (references stay
    inside the schema, so the hot path never looks anything up)."""
    if not isinstance(schema, dict):
        raise DomainError(f"“{name}”: a schema must be a JSON object.", field=field)
    declared = schema.get("$schema", DRAFT_2020_12)
    if declared != DRAFT_2020_12:
        raise DomainError(
            f"“{name}”: plans use JSON Schema Draft 2020-12; $schema must be {DRAFT_2020_12} "
            "or left out.",
            field=field,
        )
    try:
        Draft202012Validator.check_schema(schema, format_checker=FORMAT_CHECKER)
    except SchemaError as error:
        raise DomainError(
            f"“{name}”: not a valid JSON Schema — {error.message[:300]} (at {error.json_path}).",
            field=field,
        ) from error
    resolver = None
    for keyword, value in _refs(schema):
        if keyword == "$id":
            raise DomainError(
                f"“{name}”: $id is not supported; put shared parts under $defs and refer to "
                "them as #/$defs/….",
                field=field,
            )
        if not value.startswith("#"):
            raise DomainError(
                f"“{name}”: $ref {value[:80]!r} points outside the schema; only #… references "
                "are allowed.",
                field=field,
            )
        if resolver is None:
            resource = DRAFT202012.create_resource(schema)
            resolver = Registry().with_resource("urn:plan", resource).resolver("urn:plan")
        try:
            resolver.lookup(value)
        except Unresolvable as error:
            raise DomainError(
                f"“{name}”: $ref {value[:80]!r} points to nothing in this schema.", field=field
            ) from error


@dataclass(frozen=True)
class _State:
    mode: str | None
    unplanned: str | None
    schemas: dict | None  # None: no plan

    @classmethod
    def of(cls, plan: TrackingPlan | None) -> "_State":
        if plan is None:
            return cls(None, None, None)
        return cls(plan.mode, plan.unplanned, dict(plan.schemas))


def _validate(before: _State, after: _State, *, schema_field: str) -> None:
    _check_choice("mode", after.mode)
    _check_choice("unplanned", after.unplanned)
    schemas = after.schemas
    if not isinstance(schemas, dict):
        raise DomainError(
            "A plan's events are an object: event name → JSON Schema.", field="events"
        )
    if len(schemas) > MAX_EVENTS:
        raise DomainError(f"A plan holds at most {MAX_EVENTS} events.", field="events")
    for name in schemas:
        _check_name(name)
    try:
        size = len(_canonical(schemas))
    except (ValueError, TypeError) as error:  # NaN, infinity, a key that is not a string
        raise DomainError(f"The plan is not plain JSON: {error}.", field="events") from error
    if size > MAX_PLAN_BYTES:
        raise DomainError(
            f"The plan is {size // 1024} KiB; at most {MAX_PLAN_BYTES // 1024} KiB is allowed.",
            field="events",
        )
    previous = before.schemas or {}
    for name, schema in schemas.items():
        # Unchanged schemas were checked when they were saved.
        if name not in previous or _canonical(previous[name]) != _canonical(schema):
            _check_schema(name, schema, field=schema_field)


@transaction.atomic
def _plan_change(
    *,
    workspace,
    actor,
    expected_version: int | None,
    source: str,
    change: Callable[[_State], _State],
    schema_field: str = "schemas",
) -> TrackingPlan:
    """Lock the plan, apply ``change`` to its state, validate, save with the next version
    and record ``tracking_plan.updated``. No change: nothing saved, nothing recorded."""
    from workspaces.models import User

    access.authorize(workspace=workspace, actor=actor, action=access.Action.OPERATIONS_EDIT)
    plan = TrackingPlan.objects.select_for_update().filter(workspace=workspace).first()
    version = plan.version if plan is not None else 0
    if expected_version is not None and expected_version != version:
        raise ConflictError(
            f"The tracking plan changed since you opened it (it is now version {version}). "
            "Reload the page to see the change, then make yours again."
        )
    before = _State.of(plan)
    after = change(before)
    _validate(before, after, schema_field=schema_field)

    previous = before.schemas or {}
    added = sorted(set(after.schemas) - set(previous))
    removed = sorted(set(previous) - set(after.schemas))
    changed = sorted(
        name
        for name in set(previous) & set(after.schemas)
        if _canonical(previous[name]) != _canonical(after.schemas[name])
    )
    unchanged = (before.mode, before.unplanned) == (after.mode, after.unplanned)
    if plan is not None and unchanged and not (added or removed or changed):
        return plan

    if plan is None:
        plan = TrackingPlan(workspace=workspace, version=1)
    else:
        plan.version += 1
    plan.mode, plan.unplanned, plan.schemas = after.mode, after.unplanned, after.schemas
    plan.updated_by = actor if isinstance(actor, User) else None
    plan.save()
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="tracking_plan.updated",
        resource_type="tracking_plan",
        resource_id=workspace.public_id,
        payload={
            "source": source,
            "version": {"before": version or None, "after": plan.version},
            "mode": {"before": before.mode, "after": after.mode},
            "unplanned": {"before": before.unplanned, "after": after.unplanned},
            "events": {"added": added, "removed": removed, "changed": changed},
            "schemas_sha256": {
                "before": _sha256(before.schemas),
                "after": _sha256(after.schemas),
            },
        },
    )
    _forget_now_and_at_commit(workspace.pk)
    return plan


def _forget_now_and_at_commit(workspace_pk: int) -> None:
    # Now: this process's next check sees the change. At commit: a concurrent request of this
    # process that re-read the old version in between does not keep it for a whole TTL.
    _forget(workspace_pk)
    transaction.on_commit(lambda: _forget(workspace_pk))


def tracking_plan_update(
    *,
    workspace,
    actor,
    mode: str,
    unplanned: str,
    schemas: dict,
    expected_version: int | None = None,
) -> TrackingPlan:
    """Replace the workspace's plan (creating it if needed). Every schema is checked against
    the Draft 2020-12 meta-schema; a bad one raises ``DomainError`` naming the event. With
    ``expected_version``, a plan changed by someone else meanwhile raises ``ConflictError``.
    Audited as ``tracking_plan.updated`` (names added/removed/changed and SHA-256 of the
    canonical schemas before and after — not the schemas themselves)."""
    return _plan_change(
        workspace=workspace,
        actor=actor,
        expected_version=expected_version,
        source="edit",
        change=lambda before: _State(mode, unplanned, schemas),
    )


def tracking_plan_event_save(
    *,
    workspace,
    actor,
    event_name: str,
    schema: dict,
    previous_name: str | None = None,
    expected_version: int | None = None,
) -> TrackingPlan:
    """Add an event's schema, or replace one (``previous_name``: the event it was, to
    rename). A new plan starts in mode allow, unplanned allow."""

    def change(before: _State) -> _State:
        schemas = dict(before.schemas or {})
        if previous_name is not None and previous_name not in schemas:
            raise DomainError(f"“{previous_name}” is no longer in the plan.", field="event_name")
        if event_name in schemas and event_name != previous_name:
            raise DomainError(f"“{event_name}” is already in the plan.", field="event_name")
        if previous_name is not None:
            del schemas[previous_name]
        schemas[event_name] = schema
        return _State(
            before.mode or TrackingPlanMode.ALLOW.value,
            before.unplanned or TrackingPlanMode.ALLOW.value,
            schemas,
        )

    return _plan_change(
        workspace=workspace,
        actor=actor,
        expected_version=expected_version,
        source="edit",
        change=change,
        schema_field="schema",
    )


def tracking_plan_event_remove(
    *, workspace, actor, event_name: str, expected_version: int | None = None
) -> TrackingPlan:
    """Take an event out of the plan (the plan stays, possibly with no events)."""

    def change(before: _State) -> _State:
        schemas = dict(before.schemas or {})
        if event_name not in schemas:
            raise DomainError(f"“{event_name}” is not in the plan.", field="event_name")
        del schemas[event_name]
        return _State(before.mode, before.unplanned, schemas)

    return _plan_change(
        workspace=workspace,
        actor=actor,
        expected_version=expected_version,
        source="edit",
        change=change,
    )


@transaction.atomic
def tracking_plan_delete(*, workspace, actor, expected_version: int | None = None) -> None:
    """Remove the plan: events are no longer checked. Recorded violations stay (they are
    history). Audited as ``tracking_plan.deleted``; without a plan, nothing happens."""
    access.authorize(workspace=workspace, actor=actor, action=access.Action.OPERATIONS_EDIT)
    plan = TrackingPlan.objects.select_for_update().filter(workspace=workspace).first()
    if plan is None:
        return
    if expected_version is not None and expected_version != plan.version:
        raise ConflictError(
            f"The tracking plan changed since you opened it (it is now version {plan.version}). "
            "Reload the page before deleting it."
        )
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="tracking_plan.deleted",
        resource_type="tracking_plan",
        resource_id=workspace.public_id,
        payload={
            "version": plan.version,
            "mode": plan.mode,
            "unplanned": plan.unplanned,
            "events": sorted(plan.schemas),
            "schemas_sha256": _sha256(plan.schemas),
        },
    )
    plan.delete()
    _forget_now_and_at_commit(workspace.pk)


IMPORT_KEYS = ("mode", "unplanned", "events")


def tracking_plan_import(
    *, workspace, actor, document: dict, expected_version: int | None = None
) -> TrackingPlan:
    """Replace the plan with ``document`` (the format ``tracking_plan_export`` writes).
    ``events`` is required and replaces every schema; ``mode`` and ``unplanned`` keep their
    current values when left out. Audited like an update, with source "import"."""
    access.authorize(workspace=workspace, actor=actor, action=access.Action.OPERATIONS_EDIT)
    if not isinstance(document, dict):
        raise DomainError(
            "A tracking plan file is a JSON object with “events” (and optionally “mode” and "
            "“unplanned”).",
            field="document",
        )
    unknown = sorted(set(document) - set(IMPORT_KEYS))
    if unknown:
        raise DomainError(
            f"Unknown key {unknown[0][:60]!r}: a plan file has only {', '.join(IMPORT_KEYS)}.",
            field="document",
        )
    if not isinstance(document.get("events"), dict):
        raise DomainError(
            "The plan file needs “events”: an object of event name → JSON Schema.",
            field="document",
        )

    def change(before: _State) -> _State:
        return _State(
            document.get("mode", before.mode or TrackingPlanMode.ALLOW.value),
            document.get("unplanned", before.unplanned or TrackingPlanMode.ALLOW.value),
            dict(document["events"]),
        )

    return _plan_change(
        workspace=workspace,
        actor=actor,
        expected_version=expected_version,
        source="import",
        change=change,
    )


def tracking_plan_violations_record(
    *, workspace, violations: list[tuple[str, PlanViolation]], seen_at: datetime
) -> None:
    """Count a batch's violations: ``(event name, violation)`` pairs (identify events count
    under ``$identify``). Aggregated here first, then one ``INSERT … ON CONFLICT DO UPDATE``
    per 1,000 distinct rows, in a fixed order so that concurrent batches cannot deadlock.
    Meant to run inside ingestion's write transaction: counts commit with the events."""
    if not violations:
        return
    rows: dict[tuple[str, str, str], list] = {}
    for event_name, violation in violations:
        key = (event_name[:MAX_NAME_LENGTH], violation.path[:300], violation.code[:40])
        row = rows.get(key)
        if row is None:
            rows[key] = [1, violation.message[:300]]
        else:
            row[0] += 1
    meta = TrackingPlanViolation._meta
    table = connection.ops.quote_name(meta.db_table)
    columns = ", ".join(
        connection.ops.quote_name(meta.get_field(name).column)
        for name in (
            "workspace",
            "event_name",
            "path",
            "code",
            "count",
            "example_message",
            "first_seen",
            "last_seen",
        )
    )
    keys = sorted(rows)
    with connection.cursor() as cursor:
        for start in range(0, len(keys), _RECORD_CHUNK):
            chunk = keys[start : start + _RECORD_CHUNK]
            params: list = []
            for key in chunk:
                count, message = rows[key]
                params += [workspace.pk, *key, count, message, seen_at, seen_at]
            placeholders = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(chunk))
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {placeholders} "  # noqa: S608 - names from the model
                "ON CONFLICT (workspace_id, event_name, path, code) DO UPDATE SET "
                f"count = {table}.count + EXCLUDED.count, "
                "example_message = EXCLUDED.example_message, "
                f"last_seen = GREATEST({table}.last_seen, EXCLUDED.last_seen)",
                params,
            )
