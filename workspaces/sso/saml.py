"""The glue to python3-saml: the workspace's settings for it, the service provider's key, the
IdP's metadata and certificates, and the refusal reasons its errors map to.

Security settings (docs/identity.md, "SAML SSO"): strict mode; both the response and its
assertion must be signed (``wantMessagesSigned`` and ``wantAssertionsSigned``), by one of the
IdP's (at most two) certificates; SHA-1 refused unless the admin allowed it; our AuthnRequests
signed with the workspace's own key (RSA-SHA256).
"""

import base64
import binascii
import datetime as dt
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.urls import reverse
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.errors import OneLogin_Saml2_ValidationError as E
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from tracklayer.exceptions import DomainError

SP_KEY_BITS = 2048
SP_CERT_DAYS = 3650


def clock_skew() -> int:
    """Seconds of clock difference tolerated on an assertion's conditions (default 120)."""
    return int(getattr(settings, "SAML_CLOCK_SKEW_SECONDS", 120))


def idp_initiated_allowed() -> bool:
    """IdP-initiated sign-in (no AuthnRequest of ours) is off unless ``SAML_IDP_INITIATED``
    is on *and* the workspace allows it."""
    return bool(getattr(settings, "SAML_IDP_INITIATED", False))


def request_lifetime() -> int:
    """Seconds an AuthnRequest id stays valid for its response (default 600)."""
    return int(getattr(settings, "SAML_REQUEST_LIFETIME_SECONDS", 600))


# --- The service provider's values ----------------------------------------------------------


def sp_urls(slug: str) -> dict[str, str]:
    base = settings.TRACKLAYER_BASE_URL
    return {
        "entity_id": base + reverse("sso:metadata", args=[slug]),
        "metadata_url": base + reverse("sso:metadata", args=[slug]),
        "acs_url": base + reverse("sso:acs", args=[slug]),
        "login_url": base + reverse("sso:login", args=[slug]),
        "sls_url": base + reverse("sso:sls", args=[slug]),
    }


def sp_keypair_generate(common_name: str) -> tuple[str, str]:
    """A new RSA key and a self-signed certificate for it: ``(key PEM, certificate PEM)``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=SP_KEY_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SP_CERT_DAYS))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


# --- The identity provider's certificates and metadata --------------------------------------

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)


def certificate_normalize(value: str, *, field: str) -> str:
    """A certificate as PEM, from PEM or bare base64 (as metadata carries it); refused with
    a field error when it does not parse or holds neither an RSA nor an EC key."""
    value = (value or "").strip()
    match = _PEM.search(value)
    body = re.sub(r"\s+", "", match.group(1) if match else value)
    try:
        der = base64.b64decode(body, validate=True)
        cert = x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError):
        raise DomainError(
            "This is not an X.509 certificate (PEM or base64).", field=field
        ) from None
    if not isinstance(cert.public_key(), rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise DomainError("The certificate's key must be RSA or EC.", field=field)
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def certificate_summary(pem: str) -> dict:
    """What the dashboard and the audit log show of a certificate: never more than public."""
    cert = x509.load_pem_x509_certificate(pem.encode())
    return {
        "sha256": cert.fingerprint(hashes.SHA256()).hex(":"),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "subject": cert.subject.rfc4514_string()[:200],
    }


@dataclass(frozen=True)
class IdpMetadata:
    entity_id: str
    sso_url: str
    slo_url: str
    certificates: list[str]


def metadata_parse(xml: str | bytes) -> IdpMetadata:
    """The IdP's entity id, its HTTP-Redirect sign-on URL, its logout URL (if any) and its
    signing certificates, from its metadata XML; refused (field ``idp_metadata``) when the XML
    is not IdP metadata."""
    if isinstance(xml, bytes):
        xml = xml.decode("utf-8", "replace")
    if not xml.strip():
        raise DomainError("The metadata is empty.", field="idp_metadata")
    try:
        data = OneLogin_Saml2_IdPMetadataParser.parse(xml)
    except Exception:  # (lxml and the parser raise many kinds; all mean "not this")
        raise DomainError("This is not SAML metadata XML.", field="idp_metadata") from None
    idp = data.get("idp") or {}
    if not idp.get("entityId"):
        raise DomainError("The metadata names no IdP entity id.", field="idp_metadata")
    sso_url = (idp.get("singleSignOnService") or {}).get("url", "")
    if not sso_url:
        raise DomainError(
            "The metadata has no sign-on service with the HTTP-Redirect binding.",
            field="idp_metadata",
        )
    certificates = []
    if idp.get("x509cert"):
        certificates.append(idp["x509cert"])
    certificates.extend((idp.get("x509certMulti") or {}).get("signing", []))
    if not certificates:
        raise DomainError("The metadata has no signing certificate.", field="idp_metadata")
    return IdpMetadata(
        entity_id=idp["entityId"],
        sso_url=sso_url,
        slo_url=(idp.get("singleLogoutService") or {}).get("url", ""),
        certificates=[certificate_normalize(c, field="idp_metadata") for c in certificates],
    )


# --- python3-saml's settings ---------------------------------------------------------------


def toolkit_settings(config, *, sp_private_key: str) -> OneLogin_Saml2_Settings:
    """python3-saml's settings for ``config``'s workspace (strict, both signatures wanted)."""
    urls = sp_urls(config.workspace.slug)
    idp = {
        "entityId": config.idp_entity_id,
        "singleSignOnService": {"url": config.idp_sso_url, "binding": C.BINDING_HTTP_REDIRECT},
        "x509certMulti": {"signing": config.idp_certificates},
    }
    if config.idp_slo_url:
        idp["singleLogoutService"] = {"url": config.idp_slo_url, "binding": C.BINDING_HTTP_REDIRECT}
    data = {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": urls["entity_id"],
            "assertionConsumerService": {"url": urls["acs_url"], "binding": C.BINDING_HTTP_POST},
            "singleLogoutService": {"url": urls["sls_url"], "binding": C.BINDING_HTTP_REDIRECT},
            "NameIDFormat": C.NAMEID_EMAIL_ADDRESS,
            "x509cert": config.sp_certificate,
            "privateKey": sp_private_key,
        },
        "idp": idp,
        "security": {
            "authnRequestsSigned": True,
            "logoutRequestSigned": True,
            "logoutResponseSigned": True,
            "wantMessagesSigned": True,
            "wantAssertionsSigned": True,
            "wantNameId": True,
            "wantAttributeStatement": False,
            "rejectDeprecatedAlgorithm": not config.allow_sha1,
            "signatureAlgorithm": C.RSA_SHA256,
            "digestAlgorithm": C.SHA256,
            "requestedAuthnContext": False,
            "allowRepeatAttributeName": True,
        },
    }
    return OneLogin_Saml2_Settings(data, sp_validation_only=not config.enabled)


def sp_metadata_xml(config, *, sp_private_key: str) -> str:
    """The SP's metadata (entity id, ACS, signing certificate), unsigned."""
    urls = sp_urls(config.workspace.slug)
    data = {
        "strict": True,
        "sp": {
            "entityId": urls["entity_id"],
            "assertionConsumerService": {"url": urls["acs_url"], "binding": C.BINDING_HTTP_POST},
            "singleLogoutService": {"url": urls["sls_url"], "binding": C.BINDING_HTTP_REDIRECT},
            "NameIDFormat": C.NAMEID_EMAIL_ADDRESS,
            "x509cert": config.sp_certificate,
            "privateKey": sp_private_key,
        },
        "security": {
            "authnRequestsSigned": True,
            "wantAssertionsSigned": True,
            "signatureAlgorithm": C.RSA_SHA256,
            "digestAlgorithm": C.SHA256,
        },
    }
    metadata = OneLogin_Saml2_Settings(data, sp_validation_only=True).get_sp_metadata()
    return metadata.decode() if isinstance(metadata, bytes) else metadata


# --- Why a response was refused ---------------------------------------------------------------

REASONS: dict[int, str] = {
    E.NO_SIGNED_MESSAGE: "unsigned",
    E.NO_SIGNED_ASSERTION: "unsigned",
    E.NO_SIGNATURE_FOUND: "unsigned",
    E.INVALID_SIGNATURE: "bad_signature",
    E.WRONG_NUMBER_OF_SIGNATURES: "bad_signature",
    E.WRONG_NUMBER_OF_SIGNATURES_IN_RESPONSE: "bad_signature",
    E.WRONG_NUMBER_OF_SIGNATURES_IN_ASSERTION: "bad_signature",
    E.WRONG_SIGNED_ELEMENT: "bad_signature",
    E.INVALID_SIGNED_ELEMENT: "bad_signature",
    E.UNEXPECTED_SIGNED_ELEMENTS: "bad_signature",
    E.DUPLICATED_ID_IN_SIGNED_ELEMENTS: "bad_signature",
    E.DUPLICATED_REFERENCE_IN_SIGNED_ELEMENTS: "bad_signature",
    E.ID_NOT_FOUND_IN_SIGNED_ELEMENT: "bad_signature",
    E.DEPRECATED_SIGNATURE_METHOD: "sha1",
    E.DEPRECATED_DIGEST_METHOD: "sha1",
    E.WRONG_AUDIENCE: "audience",
    E.WRONG_DESTINATION: "destination",
    E.EMPTY_DESTINATION: "destination",
    E.WRONG_SUBJECTCONFIRMATION: "recipient",
    E.WRONG_INRESPONSETO: "in_response_to",
    E.ASSERTION_EXPIRED: "expired",
    E.SESSION_EXPIRED: "expired",
    E.RESPONSE_EXPIRED: "expired",
    E.ASSERTION_TOO_EARLY: "not_yet_valid",
    E.WRONG_ISSUER: "issuer",
    E.ISSUER_MULTIPLE_IN_RESPONSE: "issuer",
    E.ISSUER_NOT_FOUND_IN_ASSERTION: "issuer",
    E.STATUS_CODE_IS_NOT_SUCCESS: "idp_error",
    E.NO_NAMEID: "no_name_id",
    E.EMPTY_NAMEID: "no_name_id",
    E.NO_ENCRYPTED_ASSERTION: "encrypted",
    E.ENCRYPTED_ATTRIBUTES: "encrypted",
}


def reason_for(error: Exception) -> str:
    """The machine reason for a python3-saml validation error (``invalid`` for the rest)."""
    return REASONS.get(getattr(error, "code", None), "invalid")
