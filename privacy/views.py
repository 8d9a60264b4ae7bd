"""Settings → Consent and the consent tester (thin: forms in, services and selectors out)."""

import orjson
from django.http import Http404
from django.views.decorators.http import require_GET, require_POST

from privacy import selectors, services
from privacy.consent import (
    DESTINATION_TYPES,
    TCF_PURPOSE_NAMES,
    TCF_SPECIAL_FEATURE_NAMES,
    explain,
)
from privacy.forms import ConsentGeneralForm, ConsentPolicyForm, ConsentTesterForm
from tracklayer.exceptions import DomainError
from workspaces.dashboard import flash, form_error, render_htmx, workspace_view
from workspaces.policy import Action


def _policy_cards(config, forms_by_kind=None) -> list[dict]:
    forms_by_kind = forms_by_kind or {}
    return [
        {
            "kind": kind,
            "label": label,
            "policy": config.policies[kind],
            "form": forms_by_kind.get(kind)
            or ConsentPolicyForm.for_policy(kind, config.policies[kind]),
        }
        for kind, label in DESTINATION_TYPES.items()
    ]


def _settings_page(request, *, general_form=None, policy_forms=None, status=200):
    settings = selectors.consent_settings_get(workspace=request.workspace)
    config = selectors.consent_config_from(settings)
    return render_htmx(
        request,
        "privacy/consent_settings.html",
        "privacy/_consent_settings.html",
        {
            "settings": settings,
            "general_form": general_form or ConsentGeneralForm.for_settings(settings),
            "policies": _policy_cards(config, policy_forms),
        },
        status=status,
    )


@workspace_view(Action.WORKSPACE_VIEW)
@require_GET
def consent_settings(request):
    return _settings_page(request)


@workspace_view(Action.ROUTING_EDIT)
@require_POST
def consent_general_update(request):
    settings = selectors.consent_settings_get(workspace=request.workspace)
    form = ConsentGeneralForm.for_settings(settings, request.POST)
    if form.is_valid():
        try:
            services.consent_settings_update(
                workspace=request.workspace, actor=request.user, values=form.cleaned_data
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(request, "Consent settings saved.")
            return _settings_page(request)
    return _settings_page(request, general_form=form, status=422)


@workspace_view(Action.ROUTING_EDIT)
@require_POST
def consent_policy_update(request, kind: str):
    if kind not in DESTINATION_TYPES:
        raise Http404("No such destination type.")
    config = selectors.consent_config_get(workspace=request.workspace)
    reset = "reset" in request.POST
    form = ConsentPolicyForm.for_policy(kind, config.policies[kind], request.POST)
    if reset or form.is_valid():
        try:
            services.consent_settings_update(
                workspace=request.workspace,
                actor=request.user,
                policies={kind: None if reset else form.policy_data()},
            )
        except DomainError as error:
            form_error(form, error)
        else:
            label = DESTINATION_TYPES[kind]
            flash(request, f"{label}: {'defaults restored' if reset else 'policy saved'}.")
            return _settings_page(request)
    return _settings_page(request, policy_forms={kind: form}, status=422)


@workspace_view(Action.WORKSPACE_VIEW)
@require_GET
def consent_tester(request):
    """Paste a TC string and flags: the decoded string and each destination type's decision,
    from the same code the firewall runs on events."""
    form = ConsentTesterForm(request.GET if request.GET else None)
    result = None
    status = 200
    if form.is_bound:
        if form.is_valid():
            context = form.context()
            headers = {"Sec-GPC": "1"} if form.cleaned_data["gpc"] else {}
            config = selectors.consent_config_get(workspace=request.workspace)
            signals = config.capture(context, headers=headers)
            jurisdiction, decisions = config.evaluate(signals)
            result = {
                "signals": signals,
                "tcf": signals.tcf,
                "jurisdiction": jurisdiction,
                "context_json": orjson.dumps(
                    {"context": context}, option=orjson.OPT_INDENT_2
                ).decode(),
                "decisions": [
                    {
                        "kind": kind,
                        "label": DESTINATION_TYPES[kind],
                        "decision": decision,
                        "explained": [(reason, explain(reason)) for reason in decision.reasons],
                    }
                    for kind, decision in decisions.items()
                ],
            }
        else:
            status = 422
    return render_htmx(
        request,
        "privacy/consent_tester.html",
        "privacy/_consent_result.html",
        {
            "form": form,
            "result": result,
            "purpose_names": TCF_PURPOSE_NAMES,
            "special_feature_names": TCF_SPECIAL_FEATURE_NAMES,
        },
        status=status,
    )
