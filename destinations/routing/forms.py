"""The destination form: one per type, its fields from the type's adapter (``config_fields``
and ``secret_fields``). Mappings and consent overrides are "key = value" lines; the form only
parses them — the service checks the values and names what it refuses.

Secret inputs never show a value: after saving, a secret is described by its mask
("••••1234") in the help text, and an empty input keeps the stored one.
"""

from django import forms

from destinations.exceptions import DestinationInvalidError
from destinations.routing.services import BULK_SELECTED_MAX, PURPOSE_MAX
from destinations.routing.validation import config_names, secret_names
from privacy.consent import ConsentPolicy

FIELD_TEXT = {
    "pixel_id": ("Pixel ID", "The dataset (pixel) ID from Meta Events Manager: digits only."),
    "pixel_code": ("Pixel code", "From TikTok Events Manager, such as COQDA8RC77U2TMR44LI0."),
    "measurement_id": ("Measurement ID", "G-XXXXXXXXXX, of a GA4 web data stream."),
    "test_event_code": (
        "Test event code",
        "From Events Manager → Test events: events then show up there. Leave empty in live use.",
    ),
    "url": ("URL", "Where TrackLayer POSTs batches of signed events (https in production)."),
    "batch_size": ("Batch size", "Events per request, 1–1000 (100 when empty)."),
    "api_base_url": (
        "Platform base URL (development only)",
        "Send to a local platform server instead of the platform, such as "
        "http://127.0.0.1:9100/meta. Refused in production.",
    ),
    "access_token": ("Access token", "The Conversions API / Events API access token."),
    "api_secret": (
        "Measurement Protocol API secret",
        "Admin → Data streams → your stream → Measurement Protocol API secrets.",
    ),
    "signing_secret": (
        "Signing secret",
        "Signs every request (X-TrackLayer-Signature); your receiver verifies with it.",
    ),
    "property_id": (
        "GA4 property ID (for deletions)",
        "Optional: the property's numeric ID (Admin → Property details). With a service account "
        "key, data-subject deletions are forwarded to GA4's User Deletion API.",
    ),
    "service_account_key": (
        "Service account key (for deletions)",
        "Optional: the JSON key of a Google Cloud service account added as a user of the "
        "property (IAM → Service accounts → Keys). Stored encrypted; never shown again.",
    ),
    "previous_signing_secret": (
        "Previous signing secret",
        "Optional, while your receiver rotates: requests are signed with both.",
    ),
}
INTEGER_FIELDS = {"batch_size"}
# Secrets too long for one line (a JSON key file): a text area, never filled in.
MULTILINE_SECRETS = {"service_account_key"}


class SecretTextarea(forms.Textarea):
    """A text area that never renders a value (as ``PasswordInput(render_value=False)``): a
    form shown again after an error does not echo the secret into the page."""

    def format_value(self, value):
        return None


# Where a service's field name shows on this form.
FORM_FIELD = {
    "autopause_error_rate": "autopause_error_percent",
    "autopause_window_seconds": "autopause_window_minutes",
    "consent_policy": "consent_overrides",
}
POLICY_FIELDS = ConsentPolicy().to_dict()


def _text(name: str) -> tuple[str, str]:
    return FIELD_TEXT.get(name, (name.replace("_", " ").capitalize(), ""))


def parse_pairs(text: str) -> dict[str, str]:
    """ "key = value" per line (blank lines and lines starting with # ignored), split at the
    last "=" so that a storefront's event name may contain one."""
    pairs: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.rpartition("=")
        if not sep or not key.strip() or not value.strip():
            raise forms.ValidationError(f"Line {number}: write it as “name = value”.")
        pairs[key.strip()] = value.strip()
    return pairs


def pairs_text(pairs: dict) -> str:
    return "\n".join(f"{key} = {value}" for key, value in pairs.items())


def _policy_value(name: str, raw: str):
    default = POLICY_FIELDS[name]
    if isinstance(default, bool):
        if raw.lower() in {"true", "yes", "1"}:
            return True
        if raw.lower() in {"false", "no", "0"}:
            return False
        raise forms.ValidationError(f"{name}: write true or false.")
    if isinstance(default, list):
        items = [item.strip() for item in raw.split(",") if item.strip()]
        if name == "tcf_purposes":
            try:
                return [int(item) for item in items]
            except ValueError:
                raise forms.ValidationError(f"{name}: purpose numbers, such as 1, 3, 4.") from None
        return items
    if name == "tcf_vendor_id":
        if raw.lower() in {"", "none", "-"}:
            return None
        try:
            return int(raw)
        except ValueError:
            raise forms.ValidationError(f"{name}: a vendor id number, or none.") from None
    return raw


def parse_policy(text: str) -> dict:
    policy = {}
    for name, raw in parse_pairs(text).items():
        if name not in POLICY_FIELDS:
            raise forms.ValidationError(
                f"{name!r} is not a policy setting; use: {', '.join(POLICY_FIELDS)}."
            )
        policy[name] = _policy_value(name, raw)
    return policy


def policy_text(policy: dict) -> str:
    lines = []
    for name, value in policy.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list):
            value = ", ".join(str(item) for item in value)
        elif value is None:
            value = "none"
        lines.append(f"{name} = {value}")
    return "\n".join(lines)


class DestinationForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100)
    event_filter = forms.CharField(
        label="Events to send",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "Order Completed\n$page"}),
        help_text="One event name per line ($page, $screen, $identify for those calls). "
        "Empty: every track and page event.",
    )
    event_mapping = forms.CharField(
        label="Event names",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "Order Completed = Purchase"}),
        help_text="Your event name = the platform's. Unlisted events keep their name.",
    )
    property_mapping = forms.CharField(
        label="Properties",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "value = properties.total"}),
        help_text="Platform field = a path in the event's properties. value, currency and "
        "contents come from Segment's e-commerce properties without a line.",
    )
    consent_overrides = forms.CharField(
        label="Consent policy overrides",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "on_missing = deliver_anonymized"}),
        help_text="Empty: the type's policy from Settings → Consent. A line per setting "
        "to differ for this destination only: " + ", ".join(POLICY_FIELDS) + ".",
    )
    autopause_error_percent = forms.IntegerField(
        label="Auto-pause at error rate (%)", min_value=1, max_value=100
    )
    autopause_min_attempts = forms.IntegerField(
        label="…of at least this many requests", min_value=1, max_value=100000
    )
    autopause_window_minutes = forms.IntegerField(
        label="…within (minutes)", min_value=1, max_value=1440
    )
    max_concurrency = forms.IntegerField(
        label="Parallel requests",
        min_value=1,
        max_value=32,
        help_text="At most this many requests to the platform at once.",
    )
    # Compliance inventory (docs/evidence-center.md): who answers for it, and why it exists.
    owner = forms.ChoiceField(
        label="Owner",
        required=False,
        help_text="The member who answers for this destination (shown in the compliance "
        "inventory).",
    )
    purpose = forms.CharField(
        label="Purpose",
        required=False,
        max_length=PURPOSE_MAX,
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "Measure and optimise our Meta ad campaigns"}
        ),
        help_text="Why events go here, in a sentence an auditor can read.",
    )

    def __init__(
        self,
        kind: str,
        data=None,
        *,
        destination=None,
        masks=None,
        initial=None,
        owners=(),
    ):
        """``owners``: ``(user public id, label)`` of the members who may own it."""
        self.kind = kind
        self.destination = destination
        self.config_fields = config_names(kind)
        self.secret_fields = secret_names(kind)
        masks = masks or {}
        super().__init__(data, initial=initial)
        fields = dict(self.fields)
        self.fields.clear()
        self.fields["name"] = fields.pop("name")
        for name in self.config_fields:
            label, help_text = _text(name)
            if name in INTEGER_FIELDS:
                field = forms.IntegerField(label=label, required=False, help_text=help_text)
            else:
                field = forms.CharField(label=label, required=False, help_text=help_text)
            self.fields[name] = field
        for name in self.secret_fields:
            label, help_text = _text(name)
            if name in masks:
                help_text = f"Stored: {masks[name]}. Leave empty to keep it."
            if name in MULTILINE_SECRETS:
                widget = SecretTextarea(attrs={"rows": 4, "autocomplete": "off"})
            else:
                widget = forms.PasswordInput(
                    render_value=False, attrs={"autocomplete": "new-password"}
                )
            self.fields[name] = forms.CharField(
                label=label, required=False, strip=False, help_text=help_text, widget=widget
            )
        self.fields.update(fields)
        self.fields["owner"].choices = [("", "Nobody yet"), *owners]

    @classmethod
    def for_destination(cls, destination, data=None, *, masks=None, owners=()):
        owners = list(owners)
        owner = destination.owner
        if owner is not None and owner.public_id not in {value for value, _ in owners}:
            # Kept (and shown as such) until someone else is named: the service only checks
            # membership when the owner changes.
            owners.append((owner.public_id, f"{owner.display_name} (no longer a member)"))
        initial = {
            "name": destination.name,
            **{name: destination.config.get(name, "") for name in config_names(destination.type)},
            "event_filter": "\n".join(destination.event_filter),
            "event_mapping": pairs_text(destination.event_mapping),
            "property_mapping": pairs_text(destination.property_mapping),
            "consent_overrides": policy_text(destination.consent_policy),
            "autopause_error_percent": round(destination.autopause_error_rate * 100),
            "autopause_min_attempts": destination.autopause_min_attempts,
            "autopause_window_minutes": destination.autopause_window_seconds // 60,
            "max_concurrency": destination.max_concurrency,
            "owner": owner.public_id if owner is not None else "",
            "purpose": destination.purpose,
        }
        return cls(
            destination.type,
            data,
            destination=destination,
            masks=masks,
            initial=initial,
            owners=owners,
        )

    @classmethod
    def for_new(cls, kind: str, data=None, *, defaults: dict, owners=(), owner: str = ""):
        """A new destination's form, with the model's defaults and the type's mapping;
        ``owner`` (a user public id) is offered as its owner — the person creating it."""
        return cls(
            kind,
            data,
            owners=owners,
            initial={
                "owner": owner,
                "event_mapping": pairs_text(defaults["event_mapping"]),
                "autopause_error_percent": round(defaults["autopause_error_rate"] * 100),
                "autopause_min_attempts": defaults["autopause_min_attempts"],
                "autopause_window_minutes": defaults["autopause_window_seconds"] // 60,
                "max_concurrency": defaults["max_concurrency"],
            },
        )

    @property
    def connection_fields(self):
        """Name, the type's settings and its secrets, as bound fields (for the template)."""
        return [self[name] for name in ("name", *self.config_fields, *self.secret_fields)]

    def clean_event_filter(self):
        return [
            line.strip() for line in self.cleaned_data["event_filter"].splitlines() if line.strip()
        ]

    def clean_event_mapping(self):
        return parse_pairs(self.cleaned_data["event_mapping"])

    def clean_property_mapping(self):
        return parse_pairs(self.cleaned_data["property_mapping"])

    def clean_consent_overrides(self):
        return parse_policy(self.cleaned_data["consent_overrides"])

    def values(self) -> dict:
        """What the services take (``destination_create`` / ``destination_update``)."""
        data = self.cleaned_data
        config = {}
        for name in self.config_fields:
            value = data.get(name)
            config[name] = "" if value is None else value
        return {
            "name": data["name"],
            "config": config,
            "event_filter": data["event_filter"],
            "event_mapping": data["event_mapping"],
            "property_mapping": data["property_mapping"],
            "consent_policy": data["consent_overrides"],
            "autopause": {
                "error_rate": data["autopause_error_percent"] / 100,
                "min_attempts": data["autopause_min_attempts"],
                "window_seconds": data["autopause_window_minutes"] * 60,
            },
            "max_concurrency": data["max_concurrency"],
            "owner": data["owner"] or None,
            "purpose": data["purpose"],
        }

    def secrets(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(name) or "" for name in self.secret_fields}

    def add_service_errors(self, error: DestinationInvalidError) -> None:
        """Each refused setting on its field (or above the form)."""
        for field, message in error.errors.items():
            name = FORM_FIELD.get(field, field)
            self.add_error(name if name in self.fields else None, message)


class DeadLetterBulkForm(forms.Form):
    """Replay or discard dead letters: the ticked ones (``ids``, repeated) or all that match
    the page's filters (``scope=matching``). Discarding deletes them, so it must be
    confirmed."""

    SELECTED_MAX = BULK_SELECTED_MAX

    action = forms.ChoiceField(choices=[("replay", "Replay"), ("discard", "Discard")])
    scope = forms.ChoiceField(
        choices=[("selected", "The selected ones"), ("matching", "All that match")]
    )
    destination = forms.CharField(required=False, max_length=32)
    reason = forms.CharField(required=False, max_length=300)
    ids = forms.CharField(required=False)  # read from the repeated inputs in ``clean_ids``
    confirm = forms.BooleanField(
        required=False, label="Yes, delete these dead letters: they cannot be replayed after"
    )

    def clean_ids(self) -> list[int]:
        raw = self.data.getlist("ids") if hasattr(self.data, "getlist") else []
        if len(raw) > self.SELECTED_MAX:
            raise forms.ValidationError(
                f"Select at most {self.SELECTED_MAX}, or act on all that match."
            )
        if not all(value.isascii() and value.isdigit() and len(value) < 19 for value in raw):
            raise forms.ValidationError("Delivery ids are whole numbers.")
        return sorted({int(value) for value in raw})

    def clean(self):
        data = super().clean()
        if data.get("scope") == "selected" and "ids" in data and not data["ids"]:
            self.add_error("ids", "Tick the dead letters to act on, or act on all that match.")
        if data.get("action") == "discard" and not data.get("confirm"):
            self.add_error("confirm", "Confirm: discarded dead letters are deleted for good.")
        return data
