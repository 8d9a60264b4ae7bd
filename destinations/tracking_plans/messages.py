"""Violations as stored and shown: a jsonschema error turned into the property's path, the
keyword that failed and a message built from the *schema* (what was expected) — never from the
event's values, so violations can be stored and shown without minimisation."""

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class PlanViolation:
    path: str  # "properties.products[].price", "traits.email", "event"
    code: str  # the JSON Schema keyword that failed, "unplanned" or "plan_error"
    message: str  # built from the schema, never from the event's values

    def to_dict(self) -> dict:
        return {"path": self.path, "code": self.code, "message": self.message}


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


def describe(error, known: frozenset[str], root: str) -> list[PlanViolation]:
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
