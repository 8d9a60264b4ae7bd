"""One test per identifier rule in privacy.pii, each citing the platform page it comes from.

Every test's docstring names the page (URL) and quotes the words the rule rests on; where the
page gives an example, the test feeds the page's own input and checks our output against the
page's own normalised form and, where the page prints one, its SHA-256 digest. Expected digests
are either copied from the page or computed here with hashlib from the page's normalised form,
never by calling the code under test. ``docs/privacy-pii.md`` ("Rules, page by page") lists the
same rules with the same test names; ``test_the_docs_table_lists_every_rule_test`` holds the two
together, and ``test_every_field_and_spec_is_covered_by_a_cited_rule`` holds that no field is
normalised for a platform without a cited test.

Pages (read 2026-12-05; quotes are the pages' own words):

- META: Meta, Conversions API, "Customer Information Parameters" (updated Jan 9, 2026).
- GA4: Google Analytics, "Send user-provided data with User-ID using the Measurement Protocol".
- GADS: Google Ads API, "Manage online click conversions" (enhanced conversions for web).
- GDM: Google Data Manager API, "Format user data" (the newest of Google's pages; the only
  one that names the Gmail "+tag" rule).
- TT_EAPI: TikTok, Events API 2.0 parameters (quoted as published by Cloudflare's TikTok
  managed component, github.com/managed-components/tiktok, docs for ``phone``).
- TT_SAMPLE: TikTok's own sample code, as Events Manager generates it (the pixel's
  ``ttq.identify`` snippet and the Events API ``event/track`` payload sample); it has no page
  address of its own, so it is cited by its words.
- TT_GTM: TikTok's own server-side GTM template for the Events API (``template.js``).
"""

import hashlib

import pytest

from privacy import pii
from privacy.pii import FIELDS, NEVER_HASHED, SPECS, PIIValueError, hashed, normalize

META = (
    "https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/"
    "customer-information-parameters"
)
GA4 = "https://developers.google.com/analytics/devguides/collection/ga4/uid-data"
GADS = "https://developers.google.com/google-ads/api/docs/conversions/upload-online"
GDM = "https://developers.google.com/data-manager/api/devguides/concepts/formatting"
TT_EAPI = "https://business-api.tiktok.com/portal/docs?id=1771100865818625"
TT_SAMPLE = "TikTok Events Manager sample code (ttq.identify, event/track payload)"
TT_GTM = "https://github.com/tiktok/gtm-template-eapi/blob/main/template.js"

# (field, spec) pairs each rule test covers; filled by @covers as the module is imported.
COVERED: dict[tuple[str, str], list[str]] = {}


def covers(*pairs: tuple[str, str | tuple[str, ...]]):
    def register(test):
        for field, specs in pairs:
            for spec in (specs,) if isinstance(specs, str) else specs:
                COVERED.setdefault((field, spec), []).append(test.__name__)
        return test

    return register


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def refused(field: str, value: str, **kwargs) -> str:
    with pytest.raises(PIIValueError) as error:
        pii.hashed_for_specs(field, value, **kwargs)
    return error.value.code


@pytest.fixture(autouse=True)
def _cold_caches():
    pii.cache_clear()
    yield
    pii.cache_clear()


# --- Meta ---------------------------------------------------------------------------------


@covers(("em", "meta"))
def test_meta_em_trim_and_lowercase():
    """META, ``em``: "Hashing required. Trim any leading and trailing spaces. Convert all
    characters to lowercase." Example: "Input: John_Smith@gmail.com Normalized format:
    john_smith@gmail.com Expected SHA256 output:
    62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"."""
    assert normalize("em", "John_Smith@gmail.com", spec="meta") == "john_smith@gmail.com"
    assert (
        hashed("em", "  John_Smith@gmail.com ", spec="meta")
        == "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
    )
    # Meta asks for nothing more: Gmail dots and "+tags" stay (that is Google's rule only).
    assert normalize("em", "J.Smith+x@GMail.com", spec="meta") == "j.smith+x@gmail.com"


@covers(("ph", "meta"))
def test_meta_ph_digits_only_with_country_code_and_no_leading_zeros():
    """META, ``ph``: "Remove symbols, letters, and any leading zeros. Phone numbers must
    include a country code to be used for matching (e.g., the number 1 must precede a phone
    number in the United States)." Example: "Input: US phone number (650)555-1212 Normalized
    format: 16505551212 Expected SHA256 output:
    e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"."""
    assert normalize("ph", "(650)555-1212", spec="meta", default_region="US") == "16505551212"
    assert (
        hashed("ph", "(650)555-1212", spec="meta", default_region="US")
        == "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
    )
    # "any leading zeros": the "00" international prefix and a national trunk 0 both go.
    assert normalize("ph", "00 44 20 7946 0958", spec="meta") == "442079460958"
    assert normalize("ph", "+44 (0)20 7946 0958", spec="meta") == "442079460958"


@covers(("ph", SPECS))
def test_every_phone_must_carry_its_country_code():
    """META, ``ph``: "Always include the country code as part of your customers' phone
    numbers, even if all of your data is from the same country." GA4: "Format phone numbers
    according to the E164 standard." TT_EAPI, ``phone``: "Country code must be included".
    A number written without one is completed from ``default_region`` or refused, never
    hashed without its country code (which would match nobody)."""
    assert refused("ph", "(650) 555-1212") == "phone_no_country_code"
    completed = normalize("ph", "(650) 555-1212", spec="google", default_region="US")
    assert completed == "+16505551212"


@covers(("ph", "meta"))
def test_meta_ph_letters_and_extensions_are_read_not_kept():
    """META, ``ph``: "Remove symbols, letters, and any leading zeros." Ambiguous for the two
    places letters occur in a number: read literally, "+1 800 FLOWERS" would become "1800"
    and "ext. 3" would glue the extension onto the number, neither of them a phone number.
    We read keypad letters as their digits and drop an extension (phonenumbers' reading), so
    what is hashed is a whole, dialable number with no letter in it."""
    assert normalize("ph", "+1 800 FLOWERS", spec="meta") == "18003569377"
    assert normalize("ph", "+1 650-555-1212 ext. 3", spec="meta") == "16505551212"


@covers(("fn", ("meta", "tiktok")), ("ln", ("meta", "tiktok")))
def test_meta_names_lowercase_without_punctuation_in_utf8():
    """META, ``fn``/``ln``: "Using Roman alphabet a-z characters is recommended. Lowercase only
    with no punctuation. If using special characters, the text must be encoded in UTF-8
    format." Examples: "Mary" -> "mary" (6915771b...), "정" -> "정" (8fa8cd9c...), "Valéry" ->
    "valéry" (08e1996b...); ``ln``: "See First Name (fn) for examples". TikTok has no page of
    its own we could read for names (docs/privacy-pii.md): it gets Meta's rule."""
    page = {
        "Mary": ("mary", "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"),
        "정": ("정", "8fa8cd9c440be61d0151429310034083132b35975c4bea67fdd74158eb51db14"),
        "Valéry": ("valéry", "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"),
    }
    for value, (form, digest) in page.items():
        for field in ("fn", "ln"):
            for spec in ("meta", "tiktok"):
                assert normalize(field, value, spec=spec) == form
                assert hashed(field, value, spec=spec) == digest
    # "no punctuation"; a decomposed é is the same UTF-8 text once composed (NFC).
    assert normalize("ln", "O'Neil-Smith", spec="meta") == "oneilsmith"
    assert hashed("fn", "Vale\u0301ry", spec="meta") == page["Valéry"][1]


@covers(("db", SPECS))
def test_meta_db_is_yyyymmdd_from_1900_to_this_year():
    """META, ``db``: "We accept the YYYYMMDD format accommodating a range of month, day and
    year combinations, with or without punctuation. Year: Use the YYYY format from 1900 to
    current year. Month: Use the MM format: 01 to 12. Date: Use the DD format: 01 to 31."
    Example: "Input: 2/16/1997 Normalized format: 19970216 Expected SHA256 output:
    01acdbf6ec7b4f478a225f1a246e5d6767eeab1a7ffa17f025265b5b94f40f0c". Google and TikTok
    take no date of birth; the same form is used for them."""
    for spec in SPECS:
        assert hashed("db", "2/16/1997", spec=spec) == (
            "01acdbf6ec7b4f478a225f1a246e5d6767eeab1a7ffa17f025265b5b94f40f0c"
        )
    assert normalize("db", "1997-02-16") == "19970216"
    assert normalize("db", "1900-01-01") == "19000101"
    assert refused("db", "1899-12-31") == "date_out_of_range"
    assert refused("db", "13/01/1997") == "date_invalid"  # month 13 (the page's MM rule)


@covers(("ge", SPECS))
def test_meta_ge_is_a_lowercase_initial():
    """META, ``ge``: "We accept gender in the form of an initial in lowercase. Example: f for
    female m for male". Anything else is refused, not guessed; Google and TikTok take no
    gender, the same form is used for them."""
    for value, initial in (("f", "f"), ("m", "m"), ("F", "f"), (" Female ", "f"), ("male", "m")):
        for spec in SPECS:
            assert hashed("ge", value, spec=spec) == sha256(initial)
    assert refused("ge", "x") == "gender_unknown"


@covers(("ct", ("meta", "tiktok")))
def test_meta_ct_lowercase_without_punctuation_special_characters_or_spaces():
    """META, ``ct``: "Using Roman alphabet a-z characters is recommended. Lowercase only with
    no punctuation, no special characters, and no spaces. If using special characters, the
    text must be encoded in UTF-8 format. Example: paris london newyork". The page says nothing
    of digits ("a-z characters is recommended"); we drop them, as Meta's own Business SDK does."""
    for value, form in (("Paris", "paris"), ("London", "london"), ("New York", "newyork")):
        for spec in ("meta", "tiktok"):
            assert normalize("ct", value, spec=spec) == form
            assert hashed("ct", value, spec=spec) == sha256(form)
    assert normalize("ct", "St. Louis", spec="meta") == "stlouis"
    assert normalize("ct", "São Paulo", spec="meta") == "sãopaulo"  # UTF-8 letters kept
    assert normalize("ct", "Paris 15", spec="meta") == "paris"


@covers(("st", ("meta", "tiktok")))
def test_meta_st_is_the_lowercase_ansi_code_in_the_us():
    """META, ``st``: "Use the 2-character ANSI abbreviation code in lowercase. Normalize states
    outside the U.S. in lowercase with no punctuation, no special characters, and no spaces.
    Example: az ca". A US state written in full is turned into its code."""
    for value, form in (("Arizona", "az"), ("CA", "ca"), ("az", "az"), ("California", "ca")):
        for spec in ("meta", "tiktok"):
            assert normalize("st", value, spec=spec) == form
            assert hashed("st", value, spec=spec) == sha256(form)
    assert normalize("st", "Île-de-France", spec="meta") == "îledefrance"
    assert normalize("st", "New South Wales", spec="meta") == "newsouthwales"


@covers(("zp", ("meta", "tiktok")))
def test_meta_zp_lowercase_without_spaces_or_dash_and_five_digits_in_the_us():
    """META, ``zp``: "Use lowercase with no spaces and no dash. Use only the first 5 digits for
    U.S. zip codes. Use the area, district, and sector format for the UK. Example: U.S zip
    code: 94035 Australia zip code: 1987 France zip code: 75018 UK zip code: m11ae".
    Ambiguous for the UK: "area, district, and sector" of M1 1AE is "M1 1", yet the page's
    own example is the whole postcode "m11ae"; we follow the example (the digest must match
    what Meta computes from its own example)."""
    for value, form in (
        ("94035", "94035"),
        ("1987", "1987"),
        ("75018", "75018"),
        ("M1 1AE", "m11ae"),
        ("94035-1234", "94035"),
    ):
        for spec in ("meta", "tiktok"):
            assert normalize("zp", value, spec=spec) == form
            assert hashed("zp", value, spec=spec) == sha256(form)


@covers(("country", ("meta", "tiktok")))
def test_meta_country_is_lowercase_iso_alpha_2():
    """META, ``country``: "Use the lowercase, 2-letter country codes in ISO 3166-1 alpha-2."
    Example: "Input: United States Normalized format: us Expected SHA256 output:
    79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621"."""
    for value in ("United States", "US", "usa"):
        for spec in ("meta", "tiktok"):
            assert normalize("country", value, spec=spec) == "us"
            assert hashed("country", value, spec=spec) == (
                "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621"
            )
    assert refused("country", "Atlantis") == "country_unknown"


@covers(("external_id", "meta"))
def test_meta_external_id_is_hashed_in_the_same_format_as_elsewhere():
    """META, ``external_id``: "Hashing recommended. Any unique ID from the advertiser, such as
    loyalty membership IDs, user IDs, and external cookie IDs. ... If an External ID is being
    sent via other channels, it should be in the same format as when sent via the Conversions
    API." So it is trimmed, never lowercased or otherwise changed: another case is another id."""
    assert normalize("external_id", "  CRM-000123 ", spec="meta") == "CRM-000123"
    assert hashed("external_id", "CRM-000123", spec="meta") == sha256("CRM-000123")
    assert hashed("external_id", "crm-000123", spec="meta") != sha256("CRM-000123")


@covers(*((field, SPECS) for field in FIELDS))
def test_values_already_hashed_pass_through():
    """META: "Our systems are designed to not accept customer information that is unhashed
    Contact Information"; its examples are lowercase hex ("Expected SHA256 output:
    62a14e44..."). GA4: "The hashed value should be encoded in hex string format (string object
    containing only hexadecimal digits)". GDM: "The case of the encoding output doesn't matter
    when using hexadecimal encoding (hex)". TT_GTM passes a value matching
    ``^[A-Fa-f0-9]{64}$`` through unhashed. So a SHA-256 hex digest is passed on, not hashed
    again; we lowercase it, which the hex rule makes harmless and Meta's examples show."""
    digest = "62A14E44F765419D10FEA99367361A727C12365E2520F32218D505ED9AA0F62F"
    for field in FIELDS:
        for spec in SPECS:
            assert hashed(field, f" {digest} ", spec=spec) == digest.lower()


@covers(("em", SPECS), ("fn", SPECS))
def test_hashes_are_lowercase_hex_sha256_of_utf8():
    """META prints every "Expected SHA256 output" as 64 lowercase hex digits (its UTF-8
    example "정" -> 8fa8cd9c... fixes the encoding). GA4: "must be hashed using the SHA-256
    algorithm ... encoded in hex string format". TT_SAMPLE: "It must be hashed with SHA-256 on
    the client side"."""
    for spec in SPECS:
        digest = hashed("fn", "정", spec=spec)
        assert digest == "8fa8cd9c440be61d0151429310034083132b35975c4bea67fdd74158eb51db14"
        assert pii.is_sha256_hex(digest) and digest == digest.lower()


def test_meta_do_not_hash_fields_are_refused():
    """META marks these "Do not hash.": ``client_ip_address`` ("The client_ip_address user data
    parameter must never be hashed"), ``client_user_agent``, ``fbc``, ``fbp``,
    ``subscription_id``, ``fb_login_id``, ``lead_id``, ``anon_id``, ``page_id``,
    ``page_scoped_user_id``, ``ctwa_clid``, ``ig_account_id``, ``ig_sid``. Hashing one
    silently breaks matching, so privacy.pii refuses them."""
    meta_clear = {
        "client_ip_address",
        "client_user_agent",
        "fbc",
        "fbp",
        "subscription_id",
        "fb_login_id",
        "lead_id",
        "anon_id",
        "page_id",
        "page_scoped_user_id",
        "ctwa_clid",
        "ig_account_id",
        "ig_sid",
    }
    assert meta_clear <= NEVER_HASHED
    for field in meta_clear:
        assert refused(field, "fb.1.1554763741205.AbCdEf") == "field_never_hashed"


# --- Google -------------------------------------------------------------------------------


@covers(("em", "google"))
def test_google_em_trim_lowercase_and_gmail_dots():
    """GA4: "Remove leading and trailing whitespaces. Convert the text to lowercase. ... Remove
    all periods (.) that precede the domain name in gmail.com and googlemail.com email
    addresses." GADS normalises the same way, and Google's own Ads API Python sample says
    "Google Ads requires removal of any '.' characters preceding "gmail.com" or
    "googlemail.com"". Other domains keep their dots."""
    assert normalize("em", " John.Smith@Gmail.com ", spec="google") == "johnsmith@gmail.com"
    assert normalize("em", "j.o.h.n@googlemail.com", spec="google") == "john@googlemail.com"
    assert normalize("em", "John.Smith@Example.com", spec="google") == "john.smith@example.com"
    assert hashed("em", "John.Smith@gmail.com", spec="google") == sha256("johnsmith@gmail.com")


@covers(("em", "google"))
def test_google_em_gmail_plus_tag_is_removed():
    """GDM, ``email_address``: "If the email address has the gmail.com or googlemail.com
    domain: Remove all dots (.) before the @ symbol. Remove the plus sign (+) from the
    local-part and remove all characters that follow it. Example:
    cloudy.sanfrancisco+shopping@gmail.com -> cloudysanfrancisco@gmail.com. If the email
    address has a domain other than gmail.com or googlemail.com, don't remove dots or plus
    signs. Example: user.name+NYC@Example.com -> user.name+nyc@example.com".

    Fixed here: privacy.pii kept Gmail "+tags" for Google ("not documented"); GA4 and GADS
    still name the dots only, but they do not forbid it, a Gmail username cannot contain "+",
    and Google's own Data Manager client library strips it. A Gmail address with nothing
    before its "+" would have no mailbox left and is refused for every spec."""
    assert normalize("em", "cloudy.sanfrancisco+shopping@gmail.com", spec="google") == (
        "cloudysanfrancisco@gmail.com"
    )
    assert hashed("em", "Cloudy.SanFrancisco+shopping@gmail.com", spec="google") == sha256(
        "cloudysanfrancisco@gmail.com"
    )
    assert normalize("em", "a.b+c+d@googlemail.com", spec="google") == "ab@googlemail.com"
    assert normalize("em", "user.name+NYC@Example.com", spec="google") == (
        "user.name+nyc@example.com"
    )
    # Meta and TikTok ask for no such thing: the address stays as the person wrote it.
    for spec in ("meta", "tiktok"):
        assert normalize("em", "cloudy.sanfrancisco+shopping@gmail.com", spec=spec) == (
            "cloudy.sanfrancisco+shopping@gmail.com"
        )
    assert refused("em", "+shopping@gmail.com") == "email_invalid_local"


@covers(("em", SPECS))
def test_google_em_inner_whitespace_is_refused_not_joined():
    """GDM, ``email_address``: "Trim leading, trailing and intermediate whitespace." Ambiguous:
    removing a space inside "john smith@gmail.com" invents an address nobody typed, and
    Google's own Data Manager library refuses it ("Email address contains intermediate
    whitespace"). We refuse it too, for every spec (validity never depends on the spec)."""
    assert refused("em", "john smith@gmail.com") == "email_invalid"
    assert refused("em", "john\tsmith@gmail.com") == "email_invalid"


@covers(("ph", ("google", "tiktok")))
def test_google_ph_is_e164_with_plus():
    """GA4, ``sha256_phone_number``: "Remove all non-digit characters; Add + prefix"; its sample
    hashes "+15555555555". GDM, ``phone_number``: "Use the E.164 format. Include the plus sign
    (+) and country code. All characters after the plus sign must be digits. For example, the
    US phone number (800)555-0100 should be formatted and normalized to +18005550100."
    """
    assert normalize("ph", "(800)555-0100", spec="google", default_region="US") == "+18005550100"
    assert hashed("ph", "(800)555-0100", spec="google", default_region="US") == sha256(
        "+18005550100"
    )
    assert normalize("ph", "+1 (555) 555-5555", spec="google") == "+15555555555"


@covers(("fn", "google"), ("ln", "google"))
def test_google_names_without_digits_or_symbols_lowercase_trimmed():
    """GA4, ``sha256_first_name`` / ``sha256_last_name``: "Remove digits and symbol characters;
    Lowercase; Remove leading and trailing spaces". Its sample hashes "john" and "doe".
    GDM also says of ``given_name``: "Don't include prefixes such as Mrs." -- we cannot tell a
    title from a name reliably and do not strip any (the caller sends the name only).
    Ambiguous: GDM's own client library only trims and lowercases names ("mary-jane" keeps its
    hyphen), while GA4, the API our Google adapter sends to, removes "symbol characters"; we
    follow GA4 and remove punctuation with the symbols."""
    assert normalize("fn", "John", spec="google") == "john"
    assert normalize("ln", " Doe ", spec="google") == "doe"
    assert hashed("ln", "Doe", spec="google") == sha256("doe")
    assert normalize("fn", "Anne 2nd", spec="google") == "anne nd"
    assert normalize("ln", "O'Neil-Smith!", spec="google") == "oneilsmith"


@covers(("ct", "google"))
def test_google_city_lowercase_without_digits_or_symbols_and_sent_unhashed():
    """GA4, ``address[].city``: "Remove digits and symbol characters; Lowercase; Remove leading
    and trailing spaces"; its sample sends ``"city": "san francisco"`` in clear. GADS lists
    country, state, city and zip code as the data not to hash. Spaces inside stay."""
    assert normalize("ct", " San Francisco ", spec="google") == "san francisco"
    assert normalize("ct", "St. Louis 2", spec="google") == "st louis"


@covers(("st", "google"))
def test_google_region_is_the_written_name_not_a_code():
    """GA4, ``address[].region``: "Remove digits and symbol characters; Lowercase; Remove
    leading and trailing spaces"; its sample sends ``"region": "california"`` in clear (so no
    mapping to "ca", unlike Meta)."""
    assert normalize("st", "California", spec="google") == "california"
    assert normalize("st", "Île-de-France", spec="google") == "îledefrance"


@covers(("zp", "google"))
def test_google_postal_code_drops_dots_and_tildes_only():
    """GA4, ``address[].postal_code``: "Remove . and ~ characters; Remove leading and trailing
    spaces"; its sample sends ``"postal_code": "94000"`` in clear. Sent unhashed, so nothing
    else is changed (case and inner spaces stay)."""
    assert normalize("zp", "94000", spec="google") == "94000"
    assert normalize("zp", " SW1A 1AA. ", spec="google") == "SW1A 1AA"
    assert normalize("zp", "1234.~", spec="google") == "1234"


@covers(("country", "google"))
def test_google_country_is_iso_alpha_2_as_in_its_sample():
    """GA4, ``address[].country``: an ISO 3166-1 alpha-2 code; its sample sends ``"country":
    "US"`` in clear. GDM, ``region_code``: two-letter ISO 3166-1 alpha-2 (Google's own Data
    Manager library upper-cases it). Capitals, as in both."""
    for value in ("US", "us", "United States", "USA"):
        assert normalize("country", value, spec="google") == "US"


@covers(("external_id", "google"))
def test_google_user_id_is_an_opaque_id():
    """GA4: ``user_id`` is "A unique identifier for a user" and is sent as it is, not hashed (it
    is not among "email addresses, phone numbers, first names, last names, and street
    addresses", which "must be hashed"). ``normalize`` gives what is sent: the id trimmed,
    case kept; ``user_id`` itself is refused by ``hashed`` as a field never hashed."""
    assert normalize("external_id", " User-42 ", spec="google") == "User-42"
    assert refused("user_id", "User-42") == "field_never_hashed"


def test_google_click_and_client_ids_are_never_hashed():
    """GADS / GA4: ``gclid``, ``gbraid``, ``wbraid`` (and Campaign Manager's ``dclid``) are click
    identifiers matched as issued, and GA4's ``client_id`` and ``user_id`` are plain ids; none
    of them is in the lists of values that "must be hashed"."""
    for field in ("gclid", "gbraid", "wbraid", "dclid", "client_id", "user_id"):
        assert refused(field, "Cj0KCQiA") == "field_never_hashed"


# --- TikTok -------------------------------------------------------------------------------


@covers(("em", "tiktok"))
def test_tiktok_email_trimmed_lowercased_and_hashed():
    """TT_SAMPLE: ``email``: "The email of the customer if available. It must be hashed with
    SHA-256 on the client side." TT_GTM hashes it as ``hash(_email, true)``: lowercased,
    trimmed, SHA-256 hex. Nothing else (no Gmail rule)."""
    assert normalize("em", " John.Smith+x@Gmail.COM ", spec="tiktok") == "john.smith+x@gmail.com"
    assert hashed("em", "John_Smith@gmail.com", spec="tiktok") == (
        "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
    )


@covers(("ph", "tiktok"))
def test_tiktok_phone_is_e164_with_plus():
    """TT_EAPI, ``phone``: "Normalize the phone number to E.164 format (for example,
    '+12133734253'). Country code must be included and prefixed with the '+' sign, without any
    parentheses or leading '0's. No spaces, letters or symbols except the '+' for the country
    code are included." TT_SAMPLE: "It must be hashed with SHA-256 on the client side."
    """
    assert normalize("ph", "+1 (213) 373-4253", spec="tiktok") == "+12133734253"
    national = normalize("ph", "(213) 373-4253", spec="tiktok", default_region="US")
    assert national == "+12133734253"
    assert hashed("ph", "+1 213 373 4253", spec="tiktok") == sha256("+12133734253")
    assert normalize("ph", "0044 020 7946 0958", spec="tiktok") == "+442079460958"


@covers(("external_id", "tiktok"))
def test_tiktok_external_id_hashed_but_not_lowercased():
    """TT_SAMPLE: ``external_id``: "Any unique identifier, such as loyalty membership IDs, user
    IDs, and external cookie IDs. It must be hashed with SHA-256 on the client side." TT_GTM
    hashes it as ``hash(_external_id, false)``: trimmed, case kept."""
    assert hashed("external_id", " CRM-000123 ", spec="tiktok") == sha256("CRM-000123")


def test_tiktok_clear_fields_are_never_hashed():
    """TT_GTM sends ``ip``, ``user_agent``, ``ttp`` (the ``_ttp`` cookie) and ``ttclid`` as read;
    the Events API payload calls them "Non-hashed public IP address of the browser" and
    "Non-hashed user agent from the user's device"."""
    for field in ("ip", "user_agent", "ttp", "ttclid"):
        assert refused(field, "E.C.P.abc") == "field_never_hashed"


# --- the rules table ------------------------------------------------------------------------


def _rule_tests() -> set[str]:
    return {
        name
        for name in globals()
        if name.startswith("test_")
        and not name.startswith(("test_every_field_and_spec", "test_the_docs_table"))
    }


def test_every_field_and_spec_is_covered_by_a_cited_rule():
    missing = {(field, spec) for field in FIELDS for spec in SPECS} - set(COVERED)
    assert not missing, f"no cited rule test for {sorted(missing)}"


def test_the_docs_table_lists_every_rule_test():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "privacy-pii.md").read_text()
    table = doc.split("## Rules, page by page", 1)
    assert len(table) == 2, "docs/privacy-pii.md has no 'Rules, page by page' section"
    section = table[1].split("\n## ", 1)[0]
    listed = {word.strip("`") for word in section.split() if word.strip("`").startswith("test_")}
    assert listed == _rule_tests()
