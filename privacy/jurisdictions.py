"""Where an event's visitor is, and which consent regime that puts them under.

A shipped table (documented, with sources, in docs/privacy-consent.md) maps countries and US
states to a regime:

- ``opt_in``: nothing that needs consent may happen until the visitor has given it (GDPR in
  the EEA, UK GDPR with PECR, Switzerland's FADP treated conservatively).
- ``opt_out``: processing may happen until the visitor objects; an objection — the US Privacy
  string's opt-out flag, an explicit denial, and Global Privacy Control where the law says a
  universal opt-out signal must be honoured — stops the "sale or sharing" of their data.
- ``none``: no consent law applies; explicit denials are still honoured.

Pure Python: the consent firewall (``privacy.consent``) and the settings page both use it.
"""

from dataclasses import dataclass
from enum import StrEnum


class Regime(StrEnum):
    OPT_IN = "opt_in"
    OPT_OUT = "opt_out"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    code: str  # "DE", "US-CA", "US", or STRICTEST.code for an unknown location
    regime: Regime
    law: str
    honours_gpc: bool  # Global Privacy Control is a binding opt-out here
    source: str = "table"  # "event" (the event's location), "default" (the workspace's)

    def located(self, source: str) -> "Jurisdiction":
        return Jurisdiction(self.code, self.regime, self.law, self.honours_gpc, source)

    def with_gpc(self) -> "Jurisdiction":
        return Jurisdiction(self.code, self.regime, self.law, True, self.source)

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "regime": str(self.regime),
            "law": self.law,
            "honours_gpc": self.honours_gpc,
            "source": self.source,
        }


EEA = [
    "AT",
    "BE",
    "BG",
    "HR",
    "CY",
    "CZ",
    "DK",
    "EE",
    "FI",
    "FR",
    "DE",
    "GR",
    "HU",
    "IE",
    "IT",
    "LV",
    "LT",
    "LU",
    "MT",
    "NL",
    "PL",
    "PT",
    "RO",
    "SK",
    "SI",
    "ES",
    "SE",
    "IS",
    "LI",
    "NO",
]

# US states whose comprehensive privacy law requires honouring a universal opt-out mechanism
# such as GPC, all in force by 2026 (law, year the opt-out signal became binding).
US_GPC_STATES = {
    "CA": "CCPA/CPRA",
    "CO": "Colorado Privacy Act",
    "CT": "Connecticut Data Privacy Act",
    "DE": "Delaware Personal Data Privacy Act",
    "MD": "Maryland Online Data Privacy Act",
    "MN": "Minnesota Consumer Data Privacy Act",
    "MT": "Montana Consumer Data Privacy Act",
    "NE": "Nebraska Data Privacy Act",
    "NH": "New Hampshire Privacy Act",
    "NJ": "New Jersey Data Privacy Act",
    "OR": "Oregon Consumer Privacy Act",
    "TX": "Texas Data Privacy and Security Act",
}
# US states with an opt-out law (targeted advertising, sale) that does not require honouring
# a universal opt-out signal.
US_OPT_OUT_STATES = {
    "IA": "Iowa Consumer Data Protection Act",
    "IN": "Indiana Consumer Data Protection Act",
    "KY": "Kentucky Consumer Data Protection Act",
    "RI": "Rhode Island Data Transparency and Privacy Protection Act",
    "TN": "Tennessee Information Protection Act",
    "UT": "Utah Consumer Privacy Act",
    "VA": "Virginia Consumer Data Protection Act",
}


def _table() -> dict[str, Jurisdiction]:
    # GDPR Art. 21(5) lets a person object "by automated means using technical
    # specifications", which is what GPC is: opt-in regimes honour it too.
    table = {code: Jurisdiction(code, Regime.OPT_IN, "GDPR", True) for code in EEA}
    table["GB"] = Jurisdiction("GB", Regime.OPT_IN, "UK GDPR and PECR", True)
    table["CH"] = Jurisdiction("CH", Regime.OPT_IN, "Swiss FADP (treated as opt-in)", True)
    for state, law in US_GPC_STATES.items():
        table[f"US-{state}"] = Jurisdiction(f"US-{state}", Regime.OPT_OUT, law, True)
    for state, law in US_OPT_OUT_STATES.items():
        table[f"US-{state}"] = Jurisdiction(f"US-{state}", Regime.OPT_OUT, law, False)
    # A US visitor whose state is unknown may be in California: treat them as such.
    table["US"] = Jurisdiction("US", Regime.OPT_OUT, "US state privacy laws (state unknown)", True)
    return table


JURISDICTIONS: dict[str, Jurisdiction] = _table()
STRICTEST = Jurisdiction("strictest", Regime.OPT_IN, "Unknown location: the strictest rules", True)
NO_LAW = "No consent law in TrackLayer's table"


def jurisdiction_lookup(code: str) -> Jurisdiction:
    """The table's entry for a code ("DE", "US-CA", "US", "strictest"); any other country is
    under no consent law."""
    code = code.strip()
    if code.lower() == STRICTEST.code:
        return STRICTEST
    code = code.upper()
    return JURISDICTIONS.get(code) or Jurisdiction(code, Regime.NONE, NO_LAW, False)


def jurisdiction_for(
    *,
    country: str | None,
    region: str | None,
    default: Jurisdiction,
    overrides: dict[str, str] | None = None,
    honour_gpc_everywhere: bool = False,
) -> Jurisdiction:
    """The event's jurisdiction: from its country (and US state) when known, else the
    workspace's default. ``overrides`` maps codes to regimes the workspace chose instead of
    the table's (e.g. {"BR": "opt_in"})."""
    if country:
        country = country.upper()
        # A US state without a law of its own in the table is under none.
        code = f"US-{region.upper()}" if country == "US" and region else country
        found = jurisdiction_lookup(code).located("event")
    else:
        found = default.located("default")
    if overrides and found.code in overrides:
        regime = Regime(overrides[found.code])
        found = Jurisdiction(
            found.code,
            regime,
            f"{found.law} (regime set by the workspace)",
            regime != Regime.NONE,
            found.source,
        )
    return found.with_gpc() if honour_gpc_everywhere else found


def jurisdiction_choices() -> list[tuple[str, str]]:
    """(code, label) for a select: the strictest default first, then the table."""
    choices = [(STRICTEST.code, "Unknown: the strictest rules (opt-in)")]
    for code, entry in sorted(JURISDICTIONS.items()):
        choices.append((code, f"{code} — {entry.law} ({entry.regime.replace('_', '-')})"))
    return choices
