"""Reads of the privacy app, always scoped to a workspace."""

from privacy.consent import DEFAULT_POLICIES, ConsentConfig, ConsentPolicy
from privacy.jurisdictions import jurisdiction_lookup
from privacy.models import ConsentSettings


def consent_settings_get(*, workspace) -> ConsentSettings:
    """The stored settings, or an unsaved row holding the defaults."""
    return ConsentSettings.objects.filter(workspace=workspace).first() or ConsentSettings(
        workspace=workspace
    )


def consent_config_from(settings: ConsentSettings) -> ConsentConfig:
    policies = {
        kind: ConsentPolicy.from_dict(settings.policies[kind], base=default)
        if kind in settings.policies
        else default
        for kind, default in DEFAULT_POLICIES.items()
    }
    return ConsentConfig(
        default_jurisdiction=jurisdiction_lookup(settings.default_jurisdiction),
        honour_gpc_everywhere=settings.honour_gpc_everywhere,
        regime_overrides=dict(settings.regime_overrides),
        category_mapping=dict(settings.category_mapping),
        policies=policies,
    )


def consent_config_get(*, workspace) -> ConsentConfig:
    """What the consent firewall applies for ``workspace``."""
    return consent_config_from(consent_settings_get(workspace=workspace))
