"""SCIM resources in and out: what a request body says (validated into ``UserInput`` /
``GroupInput``, every refusal a 400 naming the attribute) and how a user or group is shown
(RFC 7643 §4, with ``meta.location`` and ``meta.resourceType``).

Attribute names are case-insensitive (RFC 7643 §2.1); read-only and unknown attributes in a
body are ignored, as the RFC asks of a service provider (``groups`` of a user, ``id``,
``meta``, the enterprise extension)."""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django_scim.constants import SchemaURI

from workspaces.scim.exceptions import invalid_syntax, invalid_value
from workspaces.scim.models import ScimGroup, ScimUser
from workspaces.scim.schemas import url

MAX_EMAILS = 10
MAX_MEMBERS = 10_000


@dataclass
class UserInput:
    user_name: str
    external_id: str = ""
    given_name: str = ""
    family_name: str = ""
    display_name: str = ""
    emails: list[dict] = field(default_factory=list)
    active: bool = True


@dataclass
class GroupInput:
    display_name: str
    external_id: str = ""
    members: list[str] = field(default_factory=list)  # SCIM user ids (usr_…)


def lower_keys(value: dict) -> dict:
    return {str(k).lower(): v for k, v in value.items()}


def _text(value, attribute: str, *, max_length: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise invalid_value(f"{attribute} must be a string.")
    if "\x00" in value:
        raise invalid_value(f"{attribute} must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid_value(f"{attribute} is not valid Unicode text.") from None
    value = value.strip()
    if required and not value:
        raise invalid_value(f"{attribute} is required.")
    if len(value) > max_length:
        raise invalid_value(f"{attribute} is longer than {max_length} characters.")
    return value


def _email(value, attribute: str) -> str:
    value = _text(value, attribute, max_length=254, required=True)
    try:
        validate_email(value)
    except ValidationError:
        raise invalid_value(f"{attribute} must be an e-mail address.") from None
    return value.lower()


def parse_active(value) -> bool:
    """``true``/``false``, and the strings ``"True"``/``"False"`` Entra ID sends."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise invalid_value("active must be true or false.")


def _schemas(body: dict, expected: str) -> None:
    schemas = body.get("schemas")
    if schemas is None:
        return
    if not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas):
        raise invalid_syntax("schemas must be a list of schema URIs.")
    if expected.lower() not in {s.lower() for s in schemas}:
        raise invalid_syntax(f"schemas must include {expected}.")


def parse_user(body) -> UserInput:
    if not isinstance(body, dict):
        raise invalid_syntax("The body must be a JSON object (a SCIM User).")
    _schemas(body, SchemaURI.USER)
    data = lower_keys(body)
    user_name = _email(data.get("username"), "userName")
    name = data.get("name") or {}
    if not isinstance(name, dict):
        raise invalid_value("name must be an object (givenName, familyName).")
    name = lower_keys(name)
    return UserInput(
        user_name=user_name,
        external_id=_text(data.get("externalid"), "externalId", max_length=255),
        given_name=_text(name.get("givenname"), "name.givenName", max_length=150),
        family_name=_text(name.get("familyname"), "name.familyName", max_length=150),
        display_name=_text(data.get("displayname"), "displayName", max_length=300),
        emails=_emails(data.get("emails"), user_name),
        active=parse_active(data["active"]) if data.get("active") is not None else True,
    )


def _emails(value, user_name: str) -> list[dict]:
    if value is None or value == []:
        return [{"value": user_name, "type": "work", "primary": True}]
    if not isinstance(value, list):
        raise invalid_value("emails must be a list of {value, type, primary}.")
    if len(value) > MAX_EMAILS:
        raise invalid_value(f"emails has more than {MAX_EMAILS} addresses.")
    emails = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise invalid_value(f"emails[{i}] must be an object with a value.")
        item = lower_keys(item)
        entry = {"value": _email(item.get("value"), f"emails[{i}].value")}
        if item.get("type") is not None:
            entry["type"] = _text(item["type"], f"emails[{i}].type", max_length=20)
        if item.get("primary") is not None:
            if not isinstance(item["primary"], bool):
                raise invalid_value(f"emails[{i}].primary must be true or false.")
            entry["primary"] = item["primary"]
        emails.append(entry)
    return emails


def parse_group(body) -> GroupInput:
    if not isinstance(body, dict):
        raise invalid_syntax("The body must be a JSON object (a SCIM Group).")
    _schemas(body, SchemaURI.GROUP)
    data = lower_keys(body)
    return GroupInput(
        display_name=_text(data.get("displayname"), "displayName", max_length=256, required=True),
        external_id=_text(data.get("externalid"), "externalId", max_length=255),
        members=parse_members(data.get("members")),
    )


def parse_members(value, attribute: str = "members") -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_value(f"{attribute} must be a list of {{value}}.")
    if len(value) > MAX_MEMBERS:
        raise invalid_value(f"{attribute} has more than {MAX_MEMBERS} entries.")
    members = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise invalid_value(f"{attribute}[{i}] must be an object with a value.")
        member = _text(
            lower_keys(item).get("value"), f"{attribute}[{i}].value", max_length=64, required=True
        )
        if member not in members:
            members.append(member)
    return members


# --- Out --------------------------------------------------------------------------------------


def _timestamp(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


def user_location(scim_user: ScimUser) -> str:
    return url(f"Users/{scim_user.user.public_id}")


def group_location(group: ScimGroup) -> str:
    return url(f"Groups/{group.public_id}")


def user_resource(scim_user: ScimUser) -> dict:
    """The user as SCIM shows it. ``groups`` is read-only: the groups it is a member of."""
    user = scim_user.user
    name = {"givenName": scim_user.given_name, "familyName": scim_user.family_name}
    formatted = " ".join(p for p in (scim_user.given_name, scim_user.family_name) if p)
    if formatted:
        name["formatted"] = formatted
    resource = {
        "schemas": [SchemaURI.USER],
        "id": user.public_id,
        "userName": user.email,
        "name": name,
        "displayName": scim_user.display_name or formatted or user.email,
        "emails": scim_user.emails or [{"value": user.email, "type": "work", "primary": True}],
        "active": scim_user.active,
        "groups": [
            {
                "value": group.public_id,
                "display": group.display_name,
                "$ref": group_location(group),
                "type": "direct",
            }
            for group in scim_user.groups.all()
        ],
        "meta": {
            "resourceType": "User",
            "created": _timestamp(scim_user.created_at),
            "lastModified": _timestamp(scim_user.updated_at),
            "location": user_location(scim_user),
        },
    }
    if scim_user.external_id:
        resource["externalId"] = scim_user.external_id
    return resource


def group_resource(group: ScimGroup) -> dict:
    resource = {
        "schemas": [SchemaURI.GROUP],
        "id": group.public_id,
        "displayName": group.display_name,
        "members": [
            {
                "value": member.user.public_id,
                "display": member.user.email,
                "$ref": user_location(member),
                "type": "User",
            }
            for member in group.members.all()
        ],
        "meta": {
            "resourceType": "Group",
            "created": _timestamp(group.created_at),
            "lastModified": _timestamp(group.updated_at),
            "location": group_location(group),
        },
    }
    if group.external_id:
        resource["externalId"] = group.external_id
    return resource


ALWAYS_RETURNED = {"id", "schemas", "meta"}


def project(resource: dict, *, attributes: str | None, excluded: str | None) -> dict:
    """``attributes`` / ``excludedAttributes`` (RFC 7644 §3.9), on top-level attributes; ``id``,
    ``schemas`` and ``meta`` are always returned."""
    if attributes:
        wanted = {a.strip().rsplit(":", 1)[-1].split(".")[0].lower() for a in attributes.split(",")}
        return {k: v for k, v in resource.items() if k in ALWAYS_RETURNED or k.lower() in wanted}
    if excluded:
        dropped = {a.strip().rsplit(":", 1)[-1].split(".")[0].lower() for a in excluded.split(",")}
        return {
            k: v for k, v in resource.items() if k in ALWAYS_RETURNED or k.lower() not in dropped
        }
    return resource
