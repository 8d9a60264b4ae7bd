"""PATCH (RFC 7644 §3.5.2) applied to a resource's writable state, in the shapes Okta and
Entra ID really send: ``replace`` with no path and an object value (Okta's deactivation),
``"op": "Replace"`` capitalised and ``"active": "False"`` as a string (Entra ID), paths such as
``active``, ``name.givenName`` and ``emails[type eq "work"].value``, and group members added,
removed by value filter (``members[value eq "…"]``) or by a list of values (Entra ID), or
replaced.

The result is a body like a PUT's, validated by ``resources.parse_user`` / ``parse_group``: a
PATCH cannot set anything a PUT could not. Unknown attributes in a no-path value are ignored
(as in a POST); an unknown path is ``invalidPath``; the enterprise extension is accepted and
not stored."""

import copy
import re

from django_scim.constants import SchemaURI
from scim2_filter_parser import ast as scim_ast

from workspaces.scim.exceptions import (
    invalid_filter,
    invalid_path,
    invalid_syntax,
    invalid_value,
    mutability,
    no_target,
)
from workspaces.scim.filters import parse_filter
from workspaces.scim.resources import lower_keys, parse_members

MAX_OPERATIONS = 100
OPS = ("add", "remove", "replace")
EXTENSION_PREFIX = "urn:ietf:params:scim:schemas:extension:"
READ_ONLY = ("id", "meta", "schemas")
PATH_RE = re.compile(
    r"^(?:(?P<uri>urn:[^\[\]]+):)?(?P<attr>[A-Za-z][\w$-]*)"
    r"(?:\[(?P<filter>[^\[\]]+)\])?(?:\.(?P<sub>[A-Za-z][\w$-]*))?$"
)


class Path:
    def __init__(self, text: str):
        match = PATH_RE.match(text.strip())
        if match is None:
            raise invalid_path(f"The path {text!r} is not a SCIM attribute path.")
        self.text = text
        self.uri = (match["uri"] or "").lower()
        self.attr = match["attr"].lower()
        self.filter = match["filter"]
        self.sub = match["sub"].lower() if match["sub"] else None

    @property
    def is_extension(self) -> bool:
        return self.uri.startswith(EXTENSION_PREFIX)


def operations(body) -> list[tuple[str, Path | None, object]]:
    """The request's operations as ``(op, path, value)``, ``op`` lower-cased."""
    if not isinstance(body, dict):
        raise invalid_syntax("The body must be a JSON object (a SCIM PatchOp).")
    data = lower_keys(body)
    schemas = data.get("schemas")
    if schemas is not None and (
        not isinstance(schemas, list)
        or SchemaURI.PATCH_OP.lower() not in {str(s).lower() for s in schemas}
    ):
        raise invalid_syntax(f"schemas must include {SchemaURI.PATCH_OP}.")
    ops = data.get("operations")
    if not isinstance(ops, list) or not ops:
        raise invalid_syntax("Operations must be a non-empty list.")
    if len(ops) > MAX_OPERATIONS:
        raise invalid_value(f"A PATCH has at most {MAX_OPERATIONS} operations.")
    result = []
    for i, op in enumerate(ops):
        if not isinstance(op, dict):
            raise invalid_syntax(f"Operations[{i}] must be an object.")
        op = lower_keys(op)
        name = op.get("op")
        if not isinstance(name, str) or name.lower() not in OPS:
            raise invalid_syntax(f"Operations[{i}].op must be add, remove or replace.")
        path = op.get("path")
        if path is not None and not isinstance(path, str):
            raise invalid_path(f"Operations[{i}].path must be a string.")
        result.append((name.lower(), Path(path) if path else None, op.get("value")))
    return result


# --- Filters on the values of a multi-valued attribute ----------------------------------------


def _matches(node, item: dict) -> bool:
    if isinstance(node, scim_ast.Filter):
        if node.namespace is not None:
            raise invalid_filter("Value filters cannot be nested.")
        result = _matches(node.expr, item)
        return not result if node.negated else result
    if isinstance(node, scim_ast.LogExpr):
        left, right = _matches(node.expr1, item), _matches(node.expr2, item)
        return (left and right) if node.op.lower() == "and" else (left or right)
    if isinstance(node, scim_ast.AttrExpr) and isinstance(node.attr_path.attr_name, str):
        if node.attr_path.sub_attr is not None:
            raise invalid_filter("A value filter compares sub-attributes only.")
        actual = lower_keys(item).get(node.attr_path.attr_name.lower())
        op = node.value.lower()
        if op == "pr":
            return actual not in (None, "")
        expected = node.comp_value.value if node.comp_value is not None else None
        expected = {"true": True, "false": False, "null": None}.get(expected, expected)
        if isinstance(actual, bool) or isinstance(expected, bool) or expected is None:
            if op not in ("eq", "ne"):
                raise invalid_filter(f"The operator {op!r} needs a string.")
            return (actual == expected) == (op == "eq")
        a, e = str(actual or "").lower(), str(expected).lower()
        tests = {
            "eq": a == e,
            "ne": a != e,
            "co": e in a,
            "sw": a.startswith(e),
            "ew": a.endswith(e),
        }
        if op not in tests:
            raise invalid_filter(f"The operator {op!r} is not supported in a value filter.")
        return tests[op]
    raise invalid_filter("The value filter has a part this server does not understand.")


def _selector(path: Path):
    tree = parse_filter(path.filter)

    def selected(item: dict) -> bool:
        try:
            return _matches(tree, item)
        except RecursionError:
            raise invalid_filter("The value filter is nested too deeply.") from None

    return selected


def _filter_type(path: Path) -> str | None:
    """``work`` from ``emails[type eq "work"]``: the type of an address a PATCH adds."""
    match = re.fullmatch(r'\s*type\s+eq\s+"([^"]*)"\s*', path.filter or "", re.IGNORECASE)
    return match[1] if match else None


# --- Users ------------------------------------------------------------------------------------


def apply_user_patch(state: dict, body) -> dict:
    """``state`` (lower-case keys: username, externalid, displayname, name, emails, active)
    with the PATCH's operations applied, in order."""
    state = copy.deepcopy(state)
    for op, path, value in operations(body):
        if path is None:
            if op == "remove":
                raise no_target("remove needs a path.")
            _user_value_object(state, op, value)
        else:
            _user_set(state, op, path, value, lenient=False)
    return state


def _user_value_object(state: dict, op: str, value) -> None:
    if not isinstance(value, dict):
        raise invalid_value("Without a path, value must be an object of attributes.")
    for key, item in value.items():
        key = str(key)
        if key.lower() == SchemaURI.USER.lower():
            _user_value_object(state, op, item)
            continue
        if key.lower().startswith(EXTENSION_PREFIX):
            continue
        if PATH_RE.match(key.strip()):  # anything else is no attribute: ignored, as in a POST
            _user_set(state, op, Path(key), item, lenient=True)


def _user_set(state: dict, op: str, path: Path, value, *, lenient: bool) -> None:
    if path.is_extension:
        return
    if path.uri and path.uri != SchemaURI.USER.lower():
        raise invalid_path(f"The path {path.text!r} names a schema this resource does not have.")
    attr = path.attr
    if attr in READ_ONLY or attr == "groups":
        if lenient:
            return
        hint = " (change the group's members instead)" if attr == "groups" else ""
        raise mutability(f"{attr} is read-only{hint}.")
    if path.filter is not None and attr != "emails":
        raise invalid_path(f"The path {path.text!r} filters an attribute that is not multi-valued.")
    if attr in ("username", "externalid", "displayname", "active") and path.sub is None:
        if op == "remove":
            if attr in ("username", "active"):
                raise invalid_value(f"{path.text} cannot be removed.")
            state[attr] = ""
        else:
            state[attr] = value
    elif attr == "name":
        _user_name(state, op, path, value)
    elif attr == "emails":
        _user_emails(state, op, path, value)
    elif not lenient:
        raise invalid_path(f"The path {path.text!r} names no attribute this server stores.")


def _user_name(state: dict, op: str, path: Path, value) -> None:
    name = state.setdefault("name", {})
    if path.sub is None:
        if op == "remove":
            state["name"] = {}
        elif not isinstance(value, dict):
            raise invalid_value("name must be an object (givenName, familyName).")
        elif op == "replace":
            state["name"] = lower_keys(value)
        else:
            name.update(lower_keys(value))
    elif path.sub in ("givenname", "familyname", "formatted"):
        if op == "remove":
            name.pop(path.sub, None)
        else:
            name[path.sub] = value
    else:
        raise invalid_path(f"The path {path.text!r} names no attribute this server stores.")


def _user_emails(state: dict, op: str, path: Path, value) -> None:
    emails = [dict(e) for e in state.get("emails") or []]
    if path.filter is None and path.sub is None:
        if op == "remove":
            emails = []
        else:
            given = value if isinstance(value, list) else [value]
            emails = given if op == "replace" else emails + given
    else:
        selected = _selector(path) if path.filter else (lambda item: True)
        hits = [i for i, e in enumerate(emails) if isinstance(e, dict) and selected(e)]
        if op == "remove":
            emails = [e for i, e in enumerate(emails) if i not in hits]
        elif path.sub not in (None, "value"):
            if path.sub not in ("type", "primary"):
                raise invalid_path(f"The path {path.text!r} names no attribute this server stores.")
            for i in hits:
                emails[i][path.sub] = value
        elif hits:
            for i in hits:
                emails[i] = value if path.sub is None else {**emails[i], "value": value}
        else:
            # Entra ID sets emails[type eq "work"].value on a user without one: an add.
            added = value if path.sub is None else {"value": value}
            if isinstance(added, dict) and _filter_type(path) and "type" not in added:
                added = {**added, "type": _filter_type(path)}
            emails.append(added)
    state["emails"] = emails


# --- Groups -----------------------------------------------------------------------------------


def apply_group_patch(state: dict, body) -> dict:
    """``state`` (displayname, externalid, members: a list of user ids) with the PATCH's
    operations applied, in order."""
    state = copy.deepcopy(state)
    for op, path, value in operations(body):
        if path is None:
            if op == "remove":
                raise no_target("remove needs a path.")
            if not isinstance(value, dict):
                raise invalid_value("Without a path, value must be an object of attributes.")
            for key, item in value.items():
                key = str(key)
                if key.lower() == SchemaURI.GROUP.lower() and isinstance(item, dict):
                    for sub_key, sub_item in item.items():
                        if PATH_RE.match(str(sub_key).strip()):
                            _group_set(state, op, Path(str(sub_key)), sub_item, lenient=True)
                elif PATH_RE.match(key.strip()):
                    _group_set(state, op, Path(key), item, lenient=True)
        else:
            _group_set(state, op, path, value, lenient=False)
    return state


def _group_set(state: dict, op: str, path: Path, value, *, lenient: bool) -> None:
    if path.uri and path.uri != SchemaURI.GROUP.lower():
        if lenient and path.is_extension:
            return
        raise invalid_path(f"The path {path.text!r} names a schema this resource does not have.")
    attr = path.attr
    if attr in READ_ONLY:
        if lenient:
            return
        raise mutability(f"{attr} is read-only.")
    if attr == "members":
        _group_members(state, op, path, value)
    elif attr in ("displayname", "externalid") and path.filter is None and path.sub is None:
        if op == "remove":
            if attr == "displayname":
                raise invalid_value("displayName cannot be removed.")
            state[attr] = ""
        else:
            state[attr] = value
    elif not lenient:
        raise invalid_path(f"The path {path.text!r} names no attribute this server stores.")


def _group_members(state: dict, op: str, path: Path, value) -> None:
    members = list(state.get("members") or [])
    if path.sub not in (None, "value"):
        raise invalid_path(f"The path {path.text!r} names no attribute this server stores.")
    if path.filter is not None:
        if op != "remove":
            raise invalid_path("A members value filter is for remove; add members with a list.")
        selected = _selector(path)
        hits = [m for m in members if selected({"value": m})]
        if not hits:
            raise no_target(f"No member of this group matches {path.filter!r}.")
        state["members"] = [m for m in members if m not in hits]
        return
    if op == "remove":
        if value is None:
            state["members"] = []
        else:
            gone = set(parse_members(value if isinstance(value, list) else [value]))
            state["members"] = [m for m in members if m not in gone]
        return
    given = parse_members(value if isinstance(value, list) else [value])
    if op == "replace":
        state["members"] = given
    else:
        state["members"] = members + [m for m in given if m not in members]
