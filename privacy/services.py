"""Changes to a workspace's consent rules: validated, saved and audited in one transaction."""

from django.db import transaction

from audit.services import audit_record
from privacy.consent import (
    CATEGORIES,
    DEFAULT_POLICIES,
    ConsentPolicy,
    ConsentPolicyError,
)
from privacy.jurisdictions import JURISDICTIONS, STRICTEST, Regime
from privacy.models import ConsentSettings
from tracklayer.exceptions import DomainError
from workspaces import policy as access

GENERAL_FIELDS = (
    "default_jurisdiction",
    "honour_gpc_everywhere",
    "regime_overrides",
    "category_mapping",
)


def _is_code(code: str) -> bool:
    """A country code ("BR") or a US state ("US-CA"), upper case."""
    country, _, state = code.partition("-")
    if len(country) != 2 or not (country.isalpha() and country.isupper()):
        return False
    return not state or (
        country == "US" and len(state) == 2 and state.isalpha() and state.isupper()
    )


def _check_general(values: dict) -> None:
    code = values.get("default_jurisdiction")
    if code is not None and code != STRICTEST.code and code not in JURISDICTIONS:
        raise DomainError(
            f"{code!r} is not in the jurisdiction table; pick one from the list.",
            field="default_jurisdiction",
        )
    for code, regime in (values.get("regime_overrides") or {}).items():
        if not _is_code(code):
            raise DomainError(
                f"{code!r} is not a country code (DE) or US state (US-CA).",
                field="regime_overrides",
            )
        if regime not in Regime.__members__.values():
            raise DomainError(
                f"The regime for {code} must be opt_in, opt_out or none.",
                field="regime_overrides",
            )
    for name, category in (values.get("category_mapping") or {}).items():
        if not name or category not in CATEGORIES:
            raise DomainError(
                f"Map {name!r} to one of: {', '.join(CATEGORIES)}.", field="category_mapping"
            )


@transaction.atomic
def consent_settings_update(
    *, workspace, actor, values: dict | None = None, policies: dict | None = None
) -> ConsentSettings:
    """Save general consent settings (``values``) and destination-type policies
    (``policies``: type -> policy dict, or None to restore the shipped default). The audit
    entry names every changed setting with its value before and after."""
    access.authorize(workspace=workspace, actor=actor, action=access.Action.ROUTING_EDIT)
    values = dict(values or {})
    unknown = set(values) - set(GENERAL_FIELDS)
    if unknown:
        raise DomainError(f"Unknown setting {sorted(unknown)[0]!r}.", field=sorted(unknown)[0])
    _check_general(values)

    settings, _ = ConsentSettings.objects.select_for_update().get_or_create(workspace=workspace)
    changes: dict[str, dict] = {}
    for name, value in values.items():
        before = getattr(settings, name)
        if before != value:
            changes[name] = {"before": before, "after": value}
            setattr(settings, name, value)

    stored = dict(settings.policies)
    for kind, data in (policies or {}).items():
        if kind not in DEFAULT_POLICIES:
            raise DomainError(f"Unknown destination type {kind!r}.", field="destination_type")
        default = DEFAULT_POLICIES[kind]
        before = ConsentPolicy.from_dict(stored[kind], base=default) if kind in stored else default
        if data is None:
            after = default
            stored.pop(kind, None)
        else:
            try:
                after = ConsentPolicy.from_dict(data, base=before)
            except ConsentPolicyError as error:
                raise DomainError(error.message, field=error.field) from error
            stored[kind] = after.to_dict()
        if after != before:
            changes[f"policies.{kind}"] = {"before": before.to_dict(), "after": after.to_dict()}
    settings.policies = stored

    if changes:
        settings.save()
        audit_record(
            workspace=workspace,
            actor=actor,
            event_type="privacy.consent_settings_updated",
            resource_type="consent_settings",
            resource_id=workspace.public_id,
            payload={"changes": changes},
        )
    return settings
