"""The controls an auditor asks about, as data: for each, what TrackLayer does, which live
evidence shows it (``compliance.controls.evidence``), how the status follows from that
evidence, and what the customer still has to do themselves (docs/evidence-center.md).

A control never computes anything here; it names evidence by key, and its ``rule`` turns the
evaluated evidence into one status with its reason. The default rule is the strictest: any
item that needs attention makes the control need attention; otherwise it is met if any item
is met, and not applicable when none applies.

ISO/IEC 27001 numbering: A.5 and A.8 are the 2022 Annex A themes (organizational and
technological controls); A.10, A.12, A.17 and A.18 are the 2013 clauses that auditors and
older questionnaires still ask by, each with the 2022 control(s) it became in ``title``.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

MET = "met"
ATTENTION = "attention"
NOT_APPLICABLE = "na"
STATUS_LABELS = {MET: "Met", ATTENTION: "Needs attention", NOT_APPLICABLE: "Not applicable"}
STATUSES = (ATTENTION, MET, NOT_APPLICABLE)  # the order the summary counts them in

SOC2 = "soc2"
ISO27001 = "iso27001"
FRAMEWORKS = {SOC2: "SOC 2", ISO27001: "ISO 27001"}


def worst_of(items: Sequence[dict]) -> tuple[str, str]:
    """Needs attention if any item does, else met if any item is met (with the reasons of
    those items), else not applicable."""
    attention = [item for item in items if item["status"] == ATTENTION]
    if attention:
        return ATTENTION, " ".join(item["reason"] for item in attention)
    met = [item for item in items if item["status"] == MET]
    if met:
        return MET, " ".join(item["reason"] for item in met)
    return NOT_APPLICABLE, "Nothing this control covers exists in this workspace yet."


@dataclass(frozen=True)
class Control:
    id: str  # "CC6.1", "A.5" — unique within its framework
    framework: str
    title: str
    we_do: str  # what TrackLayer does for it
    you_do: tuple[str, ...]  # the customer's own responsibilities ("what you still need")
    evidence: tuple[str, ...]  # keys of compliance.controls.evidence.EVIDENCE
    rule: Callable[[Sequence[dict]], tuple[str, str]] = field(default=worst_of)

    @property
    def slug(self) -> str:
        return f"{self.framework}-{self.id.lower().replace('.', '-')}"


CONTROLS: tuple[Control, ...] = (
    Control(
        id="CC6.1",
        framework=SOC2,
        title="Logical access security",
        we_do=(
            "Roles (admin, editor, viewer) checked in one policy for the dashboard, the API and "
            "the admin; TOTP MFA and a per-workspace MFA requirement; SAML SSO and SCIM "
            "provisioning; API keys hashed with bcrypt, scoped to a role, rotatable with a "
            "grace period; periodic access reviews of every member and key."
        ),
        you_do=(
            "Decide who should have which role, and remove leavers promptly (or let SCIM do it).",
            "Require MFA, or enforce SSO through an identity provider that enforces it.",
            "Rotate API keys at least every 90 days and keep tokens out of source control.",
            "Run and sign off the quarterly access review.",
        ),
        evidence=("access_review", "mfa_sso", "api_keys"),
    ),
    Control(
        id="CC6.6",
        framework=SOC2,
        title="Protection against threats from outside the system boundary",
        we_do=(
            "Every request from outside authenticates with a key or a session; bad input is "
            "refused with a 4xx naming the field; every outbound call goes through one egress "
            "policy that refuses private and link-local addresses, follows no redirects and "
            "has a deadline and a size cap."
        ),
        you_do=(
            "Keep API keys in a secret store; give storefronts write-only keys.",
            "Restrict who can reach your webhook endpoints, and verify their signatures.",
        ),
        evidence=("api_keys", "input_validation"),
    ),
    Control(
        id="CC6.7",
        framework=SOC2,
        title="Restricted transmission of information",
        we_do=(
            "Events reach only the destinations you configured, after the consent firewall "
            "decides per destination; personal identifiers are hashed at ingestion; every "
            "destination is in the inventory with its owner and purpose."
        ),
        you_do=(
            "Give every destination an owner and a documented purpose.",
            "Hold a data processing agreement with each platform you send to.",
        ),
        evidence=("inventory",),
    ),
    Control(
        id="CC7.2",
        framework=SOC2,
        title="Monitoring of system components for anomalies",
        we_do=(
            "Anomaly detectors on volume, errors, schema drift and consent blocks; incidents "
            "open automatically and are tracked detect → contain → eradicate → review; the "
            "audit log is verified daily and checkpointed with a signature."
        ),
        you_do=(
            "Route alerts to someone on call and contain incidents within one hour.",
            "Review closed incidents and track their corrective actions.",
        ),
        evidence=("audit_integrity", "incidents"),
    ),
    Control(
        id="CC9.1",
        framework=SOC2,
        title="Mitigation of business disruption risks",
        we_do=(
            "Destinations whose error rate crosses their threshold pause themselves and open an "
            "incident; deliveries are retried from an outbox and dead-lettered, never lost; "
            "the audit log is exported on a schedule for an offline copy."
        ),
        you_do=(
            "Include TrackLayer in your business continuity plan and test it.",
            "Keep the audit export's bucket under your own retention and access rules.",
        ),
        evidence=("incidents", "audit_export"),
    ),
    Control(
        id="A1.2",
        framework=SOC2,
        title="Availability: recovery infrastructure and backups",
        we_do=(
            "Signed checkpoints of the audit log and scheduled exports that anyone can verify "
            "offline with the workspace's public key; per-region databases."
        ),
        you_do=(
            "Back up the databases you host (or confirm your provider's backups) and test "
            "restoring them.",
            "Keep the verifier key somewhere independent of TrackLayer.",
        ),
        evidence=("audit_export", "audit_integrity"),
    ),
    Control(
        id="C1.2",
        framework=SOC2,
        title="Disposal of confidential information",
        we_do=(
            "Retention windows purge events, operational data (IP, user agent), deliveries and "
            "de-duplication keys; deletion requests erase a person everywhere and leave a "
            "receipt in the audit log."
        ),
        you_do=(
            "Set retention windows that match your privacy notice.",
            "Forward deletion requests from your own channels within the legal deadline.",
        ),
        evidence=("retention", "deletion_requests"),
    ),
    Control(
        id="PI1.3",
        framework=SOC2,
        title="Processing integrity: complete and accurate inputs",
        we_do=(
            "Every event is validated (envelope, and the tracking plan's JSON Schemas where "
            "there is one); rejected events are counted by reason; duplicates by message id "
            "are acknowledged and never delivered twice."
        ),
        you_do=("Maintain a tracking plan for the events you send and review the rejected ones.",),
        evidence=("input_validation",),
    ),
    Control(
        id="A.5",
        framework=ISO27001,
        title="Organizational controls — access control and access rights (2022 A.5.15–A.5.18)",
        we_do=(
            "One role policy for every surface, MFA and SSO, API keys with roles and "
            "rotation, and access reviews that record who confirmed, changed or removed what."
        ),
        you_do=(
            "Write and own your access control policy.",
            "Review access at the interval your policy sets and act on the findings.",
        ),
        evidence=("access_review", "mfa_sso", "api_keys"),
    ),
    Control(
        id="A.8",
        framework=ISO27001,
        title=(
            "Technological controls — information deletion, data masking, data leakage "
            "prevention (2022 A.8.10–A.8.12)"
        ),
        we_do=(
            "Personal identifiers are hashed at ingestion (masking); retention purges delete "
            "what aged out; the destination inventory shows where data may leave to."
        ),
        you_do=("Classify the data you send and keep the inventory's purposes current.",),
        evidence=("retention", "inventory"),
    ),
    Control(
        id="A.10",
        framework=ISO27001,
        title="Cryptography (2013 A.10; 2022 A.8.24)",
        we_do=(
            "SHA-256 hash chain and RFC 9162 Merkle tree over the audit log; Ed25519 signed "
            "checkpoints (C2SP signed notes); bcrypt for API key secrets; keyed hashes for "
            "data subjects."
        ),
        you_do=(
            "Keep the workspace's verifier key where your auditors can find it.",
            "Manage the encryption keys of your own storage (for example the export bucket).",
        ),
        evidence=("audit_integrity",),
    ),
    Control(
        id="A.12",
        framework=ISO27001,
        title="Operations security — logging and monitoring (2013 A.12.4; 2022 A.8.15–A.8.16)",
        we_do=(
            "Every administrative change writes one tamper-evident audit entry; the log is "
            "verified daily; anomalies and incidents are detected and recorded."
        ),
        you_do=("Look at the verification result and investigate any break at once.",),
        evidence=("audit_integrity", "incidents"),
    ),
    Control(
        id="A.17",
        framework=ISO27001,
        title="Business continuity (2013 A.17; 2022 A.5.29–A.5.30)",
        we_do=(
            "Outbox and retries so that a platform outage loses no event; automatic pauses "
            "and incidents with a one-hour containment target; scheduled offline audit "
            "exports."
        ),
        you_do=("Plan for a TrackLayer outage in your continuity plan and exercise it.",),
        evidence=("incidents", "audit_export"),
    ),
    Control(
        id="A.18",
        framework=ISO27001,
        title=(
            "Compliance — protection of records, privacy and PII (2013 A.18.1.3–A.18.1.4; "
            "2022 A.5.33–A.5.34)"
        ),
        we_do=(
            "Deletion requests carried out everywhere with a receipt in the audit log; "
            "retention windows enforced by scheduled purges; records in an append-only log."
        ),
        you_do=(
            "Answer data-subject requests within the legal deadline (one month under GDPR).",
            "Keep your records of processing activities.",
        ),
        evidence=("deletion_requests", "retention"),
    ),
)
