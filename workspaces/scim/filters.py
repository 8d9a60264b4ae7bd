"""SCIM filters (RFC 7644 §3.4.2.2) to Django ``Q`` objects.

scim2-filter-parser (django-scim2's parser) reads the filter; the translation is ours: its
own Django transpiler silently drops an attribute it does not know (``userName eq "a" and
nickName eq "b"`` would become ``userName eq "a"``), and a filter that matches more than it
says must never reach a provisioning client. Here every attribute must be known, or the
filter is refused with ``invalidFilter``.

Supported: ``eq ne co sw ew pr gt ge lt le``, ``and or not``, parentheses, value filters
(``emails[type eq "work"].value eq "…"``) and attribute URIs of the core schemas.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Q
from django.utils.dateparse import parse_datetime
from scim2_filter_parser import ast as scim_ast
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser

from workspaces.scim.exceptions import invalid_filter

MAX_FILTER_LENGTH = 2000

LOOKUPS = {
    "eq": "iexact",
    "ne": "iexact",
    "co": "icontains",
    "sw": "istartswith",
    "ew": "iendswith",
    "gt": "gt",
    "ge": "gte",
    "lt": "lt",
    "le": "lte",
}
NOTHING = Q(pk__in=[])
EVERYTHING = ~NOTHING


@dataclass(frozen=True)
class Field:
    """A filterable attribute: a model field, or a constant every resource has (the one
    work e-mail's ``type`` and ``primary``)."""

    lookup: str | None = None
    constant: object = None
    kind: type = str
    # For ``eq`` on an e-mail: also the addresses the provider sent (``ScimUser.emails``),
    # which may differ from the account's (Entra ID: userName is the UPN, the work e-mail
    # its mail attribute).
    also_json: str | None = None


USER_ATTRIBUTES: dict[tuple[str, str | None], Field] = {
    ("id", None): Field("user__public_id"),
    ("username", None): Field("user__email"),
    ("externalid", None): Field("external_id"),
    ("displayname", None): Field("display_name"),
    ("name", "givenname"): Field("given_name"),
    ("name", "familyname"): Field("family_name"),
    ("active", None): Field("active", kind=bool),
    ("emails", None): Field("user__email", also_json="emails"),
    ("emails", "value"): Field("user__email", also_json="emails"),
    ("emails", "type"): Field(constant="work"),
    ("emails", "primary"): Field(constant=True, kind=bool),
    ("meta", "created"): Field("created_at", kind=object),
    ("meta", "lastmodified"): Field("updated_at", kind=object),
}
GROUP_ATTRIBUTES: dict[tuple[str, str | None], Field] = {
    ("id", None): Field("public_id"),
    ("displayname", None): Field("display_name"),
    ("externalid", None): Field("external_id"),
    ("members", None): Field("members__user__public_id"),
    ("members", "value"): Field("members__user__public_id"),
    ("meta", "created"): Field("created_at", kind=object),
    ("meta", "lastmodified"): Field("updated_at", kind=object),
}
CORE_URIS = {
    "urn:ietf:params:scim:schemas:core:2.0:user",
    "urn:ietf:params:scim:schemas:core:2.0:group",
}


def parse_filter(text: str):
    """The filter's syntax tree; ``invalidFilter`` when it is not a filter."""
    if len(text) > MAX_FILTER_LENGTH:
        raise invalid_filter(f"The filter is longer than {MAX_FILTER_LENGTH} characters.")
    try:
        tree = SCIMParser().parse(SCIMLexer().tokenize(text))
    except Exception:  # the parser raises its own errors, and others, on hostile input
        tree = None
    if tree is None:
        raise invalid_filter("The filter could not be parsed (RFC 7644 §3.4.2.2).")
    return tree


def filter_q(text: str, attributes: dict[tuple[str, str | None], Field]) -> Q:
    """The ``Q`` that selects what ``text`` says among one workspace's resources."""
    tree = parse_filter(text)
    try:
        return _Translator(attributes).visit(tree, None)
    except RecursionError:
        raise invalid_filter("The filter is nested too deeply.") from None


class _Translator:
    def __init__(self, attributes):
        self.attributes = attributes

    def visit(self, node, namespace: str | None) -> Q:
        if isinstance(node, scim_ast.Filter):
            if node.namespace is not None:
                namespace = self._namespace(node.namespace, namespace)
            q = self.visit(node.expr, namespace)
            return ~q if node.negated else q
        if isinstance(node, scim_ast.LogExpr):
            left, right = self.visit(node.expr1, namespace), self.visit(node.expr2, namespace)
            return (left & right) if node.op.lower() == "and" else (left | right)
        if isinstance(node, scim_ast.AttrExpr):
            return self._comparison(node, namespace)
        raise invalid_filter("The filter has a part this server does not understand.")

    def _namespace(self, path, outer: str | None) -> str:
        if outer is not None or not isinstance(path.attr_name, str):
            raise invalid_filter("Value filters cannot be nested.")
        self._check_uri(path.uri)
        return path.attr_name.lower()

    def _check_uri(self, uri) -> None:
        if uri and uri.lower().rstrip(":") not in CORE_URIS:
            raise invalid_filter(f"Attributes of the schema {uri!r} cannot be filtered on.")

    def _comparison(self, node, namespace: str | None) -> Q:
        path = node.attr_path
        if isinstance(path.attr_name, scim_ast.Filter):
            # emails[type eq "work"].value eq "…": the value filter, and the sub-attribute
            # compared. Both are about the same (our only) e-mail address.
            inner = path.attr_name
            owner = self._namespace(inner.namespace, namespace)
            sub = inner.namespace.sub_attr.value.lower() if inner.namespace.sub_attr else None
            selected = self.visit(inner.expr, owner)
            selected = ~selected if inner.negated else selected
            return selected & self._compare(self._field(owner, sub), node)
        self._check_uri(path.uri)
        name = path.attr_name.lower()
        sub = path.sub_attr.value.lower() if path.sub_attr else None
        if namespace is not None:
            if sub is not None:
                raise invalid_filter(f"{name}.{sub} cannot be used inside a value filter.")
            name, sub = namespace, name
        return self._compare(self._field(name, sub), node)

    def _field(self, name: str, sub: str | None) -> Field:
        field = self.attributes.get((name, sub))
        if field is None:
            shown = f"{name}.{sub}" if sub else name
            raise invalid_filter(f"The attribute {shown!r} cannot be filtered on.")
        return field

    def _compare(self, field: Field, node) -> Q:
        op = node.value.lower()
        if op == "pr":
            if field.lookup is None:
                return EVERYTHING
            if field.kind is str:
                return ~Q(**{field.lookup: ""}) & Q(**{f"{field.lookup}__isnull": False})
            return Q(**{f"{field.lookup}__isnull": False})
        if op not in LOOKUPS:
            raise invalid_filter(f"The operator {op!r} is not supported.")
        value = node.comp_value.value if node.comp_value is not None else None
        value = {"true": True, "false": False, "null": None}.get(value, value)
        if field.lookup is None:
            q = _constant(op, field.constant, value)
        elif field.kind is bool:
            if op not in ("eq", "ne") or not isinstance(value, bool):
                raise invalid_filter("A boolean attribute is compared with eq or ne and a boolean.")
            q = Q(**{field.lookup: value})
        elif value is None:
            if op not in ("eq", "ne"):
                raise invalid_filter("null is compared with eq or ne only.")
            q = Q(**{f"{field.lookup}__isnull": True})
        elif isinstance(value, bool):
            raise invalid_filter("This attribute is not a boolean.")
        elif field.kind is str:
            lookup = LOOKUPS[op]
            if lookup in ("gt", "gte", "lt", "lte"):
                raise invalid_filter(f"The operator {op!r} is not supported on this attribute.")
            q = Q(**{f"{field.lookup}__{lookup}": str(value)})
            if field.also_json and op in ("eq", "ne"):
                q |= Q(**{f"{field.also_json}__contains": [{"value": str(value).lower()}]})
        else:
            q = _dated(field.lookup, op, value)
        return ~q if op == "ne" else q


def _dated(lookup: str, op: str, value) -> Q:
    try:
        when = parse_datetime(str(value))
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise invalid_filter("Dates are compared with an RFC 3339 date-time with its offset.")
    name = {"eq": "exact", "ne": "exact", "gt": "gt", "ge": "gte", "lt": "lt", "le": "lte"}.get(op)
    if name is None:
        raise invalid_filter(f"The operator {op!r} is not supported on dates.")
    return Q(**{f"{lookup}__{name}": when})


_CONSTANT_TESTS: dict[str, Callable[[str, str], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a == b,  # negated by the caller
    "co": lambda a, b: b in a,
    "sw": lambda a, b: a.startswith(b),
    "ew": lambda a, b: a.endswith(b),
}


def _constant(op: str, constant, value) -> Q:
    if isinstance(constant, bool):
        if op not in ("eq", "ne") or not isinstance(value, bool):
            raise invalid_filter("A boolean attribute is compared with eq or ne and a boolean.")
        return EVERYTHING if constant == value else NOTHING
    test = _CONSTANT_TESTS.get(op)
    if test is None or not isinstance(value, str):
        raise invalid_filter(f"The operator {op!r} is not supported on this attribute.")
    return EVERYTHING if test(str(constant).lower(), value.lower()) else NOTHING
