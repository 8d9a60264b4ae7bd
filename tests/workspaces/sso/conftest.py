"""A real identity provider for the SSO tests: pysaml2's ``Server`` with a key and certificate
made at test time, signing with xmlsec1, trusting our SP through the metadata our endpoint
serves. Responses are built by pysaml2 (``create_authn_response``), never by hand."""

import base64
import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.urls import reverse
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_UNSPECIFIED
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA1, DIGEST_SHA256, SIG_RSA_SHA1, SIG_RSA_SHA256

from tests.factories import FACTORY_ACTOR
from workspaces.sso import saml as sp_saml
from workspaces.sso import selectors, services

XMLSEC = "/usr/bin/xmlsec1"
IDP_ENTITY_ID = "https://idp.example.test/saml/metadata"
IDP_SSO_URL = "https://idp.example.test/saml/sso"
IDP_SLO_URL = "https://idp.example.test/saml/slo"
DOMAIN = "acme.example"
OTHER_SP = "https://other-sp.example/metadata/"


def keypair(tmp_path, name: str) -> tuple[str, str]:
    """A fresh RSA key and self-signed certificate, written to ``tmp_path``: their paths."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = tmp_path / f"{name}.key", tmp_path / f"{name}.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(key_path), str(cert_path)


class TestIdp:
    """The IdP: ``metadata()`` to configure the SP with, ``request_id(redirect)`` to read our
    AuthnRequest, ``response(...)`` a base64 SAMLResponse as the browser would POST it."""

    __test__ = False

    def __init__(self, tmp_path, sp_metadata: str, *, name: str = "idp"):
        self.key_file, self.cert_file = keypair(tmp_path, name)
        self.sp_metadata = sp_metadata
        self.sp_entity_id = re.search(r'entityID="([^"]+)"', sp_metadata).group(1)
        self.server = self._server(self.key_file, self.cert_file)

    def _server(self, key_file: str, cert_file: str) -> Server:
        config = IdPConfig()
        config.load(
            {
                "entityid": IDP_ENTITY_ID,
                "xmlsec_binary": XMLSEC,
                "key_file": key_file,
                "cert_file": cert_file,
                # Our SP, and another SP (the same metadata under OTHER_SP) to address
                # assertions to the wrong audience.
                "metadata": {
                    "inline": [
                        self.sp_metadata,
                        self.sp_metadata.replace(self.sp_entity_id, OTHER_SP),
                    ]
                },
                "service": {
                    "idp": {
                        "endpoints": {
                            "single_sign_on_service": [(IDP_SSO_URL, BINDING_HTTP_REDIRECT)],
                            "single_logout_service": [(IDP_SLO_URL, BINDING_HTTP_REDIRECT)],
                        },
                        "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                        "policy": {
                            "default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None}
                        },
                    }
                },
            }
        )
        return Server(config=config)

    def signed_by(self, tmp_path, name: str) -> "TestIdp":
        """The same IdP (entity id, endpoints) signing with another, new key."""
        other = TestIdp.__new__(TestIdp)
        other.key_file, other.cert_file = keypair(tmp_path, name)
        other.sp_metadata = self.sp_metadata
        other.sp_entity_id = self.sp_entity_id
        other.server = other._server(other.key_file, other.cert_file)
        return other

    def metadata(self) -> str:
        return str(entity_descriptor(self.server.config))

    def certificate(self) -> str:
        with open(self.cert_file) as f:
            return f.read()

    def request_id(self, redirect_url: str) -> str:
        """The id of the AuthnRequest in our redirect (checked to be for this IdP)."""
        url = urlsplit(redirect_url)
        assert f"{url.scheme}://{url.netloc}{url.path}" == IDP_SSO_URL
        query = parse_qs(url.query)
        request = self.server.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        return request.message.id

    def response(
        self,
        *,
        in_response_to: str | None,
        email: str = f"pat@{DOMAIN}",
        groups=(),
        attributes: dict | None = None,
        name_id_format: str = NAMEID_FORMAT_EMAILADDRESS,
        sign_response: bool = True,
        sign_assertion: bool = True,
        sha1: bool = False,
        destination: str | None = None,
        recipient: str | None = None,
        audience: str | None = None,
    ) -> str:
        acs = self.sp_acs()
        identity = {"groups": list(groups), **(attributes or {})}
        farg = None
        if recipient is not None:
            farg = {
                "assertion": {
                    "subject": {
                        "subject_confirmation": {
                            "method": saml.SCM_BEARER,
                            "subject_confirmation_data": {
                                "in_response_to": in_response_to,
                                "recipient": recipient,
                            },
                        }
                    }
                }
            }
        kwargs = {"farg": farg} if farg else {}
        response = self.server.create_authn_response(
            identity=identity,
            in_response_to=in_response_to,
            destination=destination or acs,
            sp_entity_id=audience or self.sp_entity_id,
            name_id=saml.NameID(format=name_id_format, text=email),
            authn={"class_ref": saml.AUTHN_PASSWORD_PROTECTED, "authn_auth": IDP_ENTITY_ID},
            sign_response=sign_response,
            sign_assertion=sign_assertion,
            sign_alg=SIG_RSA_SHA1 if sha1 else SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA1 if sha1 else DIGEST_SHA256,
            **kwargs,
        )
        return base64.b64encode(str(response).encode()).decode()

    # --- Single logout (HTTP-Redirect binding) ----------------------------------------------

    def answer_logout(self, redirect_url: str, *, sign: bool = True) -> str:
        """Read our LogoutRequest from the redirect and answer it: the path and query our SP's
        logout endpoint receives (signed with the IdP's key unless ``sign`` is false)."""
        url = urlsplit(redirect_url)
        assert f"{url.scheme}://{url.netloc}{url.path}" == IDP_SLO_URL
        query = parse_qs(url.query)
        request = self.server.parse_logout_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        response = self.server.create_logout_response(request.message, [BINDING_HTTP_REDIRECT])
        return self._redirect(str(response), response=True, sign=sign)

    def logout_request(self, email: str, *, sign: bool = True) -> str:
        """An IdP-initiated LogoutRequest for ``email``: the path and query our SP receives."""
        _request_id, request = self.server.create_logout_request(
            destination=self.sp_sls(),
            issuer_entity_id=self.sp_entity_id,
            name_id=saml.NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=email),
        )
        return self._redirect(str(request), response=False, sign=sign)

    def _redirect(self, message: str, *, response: bool, sign: bool) -> str:
        info = self.server.apply_binding(
            BINDING_HTTP_REDIRECT,
            message,
            destination=self.sp_sls(),
            relay_state="",
            response=response,
            sign=sign,
            sigalg=SIG_RSA_SHA256 if sign else None,
        )
        location = dict(info["headers"])["Location"]
        url = urlsplit(location)
        return f"{url.path}?{url.query}"

    def sp_sls(self) -> str:
        for descriptor in self.server.metadata[self.sp_entity_id]["spsso_descriptor"]:
            for service in descriptor["single_logout_service"]:
                return service["location"]
        raise AssertionError("the SP metadata has no logout service")

    def sp_acs(self) -> str:
        for descriptor in self.server.metadata[self.sp_entity_id]["spsso_descriptor"]:
            for service in descriptor["assertion_consumer_service"]:
                if service["binding"] == BINDING_HTTP_POST:
                    return service["location"]
        raise AssertionError("the SP metadata has no POST ACS")


@pytest.fixture
def sp_metadata(client, workspace):
    selectors.sp_values(workspace=workspace)  # as Settings → Identity does: the SP's key
    response = client.get(reverse("sso:metadata", args=[workspace.slug]))
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def idp(tmp_path, sp_metadata):
    return TestIdp(tmp_path, sp_metadata)


@pytest.fixture
def sso_workspace(workspace, idp):
    """``workspace`` trusting ``idp``, managing ``acme.example`` (not enforced)."""
    services.saml_configure(workspace=workspace, actor=FACTORY_ACTOR, idp_metadata=idp.metadata())
    services.managed_domains_set(
        workspace=workspace, actor=FACTORY_ACTOR, domains=[DOMAIN], enforce=False
    )
    return workspace


def start_login(client, workspace, idp, next_url: str | None = None) -> str:
    """Go to our login URL; the AuthnRequest id the IdP received."""
    url = reverse("sso:login", args=[workspace.slug])
    response = client.get(url, {"next": next_url} if next_url else {})
    assert response.status_code == 302, response.content
    return idp.request_id(response["Location"])


def post_acs(client, workspace, saml_response: str, relay_state: str = ""):
    return client.post(
        reverse("sso:acs", args=[workspace.slug]),
        {"SAMLResponse": saml_response, "RelayState": relay_state},
    )


__all__ = [
    "NAMEID_FORMAT_UNSPECIFIED",
    "TestIdp",
    "post_acs",
    "sp_saml",
    "start_login",
]
