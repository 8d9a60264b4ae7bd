"""Normalise and hash customer identifiers the way Meta, Google and TikTok match them.

A pure module (no Django): adapters call it while building a request, benchmarks and tests
call it directly. ``docs/privacy-pii.md`` has the rules table with a citation for every rule.

Guarantees:

- ``normalize`` returns the form a platform matches on, or raises ``PIIValueError`` naming the
  field and a stable reason code. Garbage is never normalised into something that looks valid
  and then hashed: a phone that does not parse, an e-mail without ``@``, an unknown country,
  an impossible date, a name with no letter in it are all refused.
- ``hashed`` is the lowercase hex SHA-256 of ``normalize(...)`` encoded as UTF-8.
- A value that already is a SHA-256 hex digest (64 hex digits, any case, surrounding
  whitespace ignored) passes through both, lowercased: that is how a caller sends an
  identifier it hashed itself.
- Whether a value is valid does not depend on the spec (the per-spec forms are renderings of
  one parsed value), so ``hashed_for_specs`` either hashes for every spec asked or raises.
- Fields that must never be hashed (IP address, user agent, Meta's ``fbc``/``fbp``, click
  ids, ...) are refused with ``field_never_hashed``: hashing them silently breaks matching.
- Error messages never contain the value: callers log them when they drop a field.
- Nothing of a value outlives the call, or the ``memo`` its caller passes and drops: no
  process-wide cache holds raw identifiers (docs/privacy-pii.md, "Caches and speed").
"""

from __future__ import annotations

import datetime
import hashlib
import re
import string
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import phonenumbers

from privacy import pii_tables

FIELDS = ("em", "ph", "fn", "ln", "ct", "st", "zp", "country", "external_id", "ge", "db")
SPECS = ("meta", "google", "tiktok")

# Sent as they are, or the platform cannot use them: Meta marks these "Do not hash" in its
# customer information parameters; TikTok's Events API takes ip, user_agent, ttp and ttclid
# unhashed; GA4's client_id and user_id are plain identifiers; click ids are matched verbatim.
NEVER_HASHED: frozenset[str] = frozenset(
    {
        # network and browser
        "ip",
        "ip_address",
        "ip_override",
        "client_ip_address",
        "user_agent",
        "client_user_agent",
        "locale",
        # Meta browser and click ids, Meta "Do not hash" ids
        "fbc",
        "fbp",
        "fbclid",
        "subscription_id",
        "fb_login_id",
        "lead_id",
        "anon_id",
        "page_id",
        "page_scoped_user_id",
        "ctwa_clid",
        "ig_account_id",
        "ig_sid",
        # Google
        "gclid",
        "wbraid",
        "gbraid",
        "dclid",
        "client_id",
        "user_id",
        # TikTok
        "ttclid",
        "ttp",
        # other ad platforms' click ids
        "msclkid",
        "li_fat_id",
        "twclid",
        "epik",
        "rdt_cid",
        "sccid",
    }
)

# Nothing of a value is remembered by the process between calls: no cache holds a raw e-mail,
# phone or name once the call (or the request, with a ``memo``) is over. A caller that sees the
# same values again within one unit of work (ingestion: one request) passes a ``memo``, a dict
# it drops afterwards, which remembers at most MEMO_SIZE values.
MEMO_SIZE = 1_024


class PIIValueError(ValueError):
    """A value that cannot be normalised for a field. ``code`` is stable (snake_case) for
    counters and API errors; ``message`` is a sentence for people. Neither holds the value."""

    def __init__(self, field: str, code: str, message: str) -> None:
        self.field = field
        self.code = code
        self.message = message
        super().__init__(f"{field}: {message} ({code})")

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the three attributes across pickling (Celery results, multiprocessing).
        return (type(self), (self.field, self.code, self.message))


# --- shared helpers ----------------------------------------------------------------------

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def is_sha256_hex(value: str) -> bool:
    """True when ``value`` is exactly 64 hexadecimal digits (either case, nothing around)."""
    return value.__class__ is str and len(value) == 64 and _HEX64.fullmatch(value) is not None


def _sha256(text: str) -> str:
    return _SHA256(text.encode("utf-8")).hexdigest()


_SHA256 = hashlib.sha256


def _nfc(text: str) -> str:
    # ASCII is always NFC; skipping the call keeps the common case cheap.
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def _nfc_lower(text: str) -> str:
    if text.isascii():
        return text.lower()
    # Lowercasing can decompose (U+0130 becomes "i" + U+0307), so compose again afterwards.
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).lower())


def _collapse_spaces(text: str) -> str:
    return " ".join(text.split())


def _has_letter(text: str) -> bool:
    return any(map(str.isalpha, text))


# ASCII punctuation and symbols (Unicode P* and S*), and the control characters that are not
# whitespace (whitespace is collapsed separately, so "a\tb" stays two words).
_ASCII_CONTROLS = "".join(chr(c) for c in (*range(0x20), 0x7F) if not chr(c).isspace())
_DROP_PUNCT = str.maketrans("", "", string.punctuation + _ASCII_CONTROLS)
_DROP_PUNCT_DIGITS = str.maketrans("", "", string.punctuation + _ASCII_CONTROLS + string.digits)
_DROP_DIGITS = str.maketrans("", "", string.digits)


_CATEGORY_FILTER_SIZE = 65_536


class _CategoryFilter(dict[int, int | None]):
    """A ``str.translate`` table that deletes characters by Unicode category, filled lazily
    (one ``unicodedata.category`` call per distinct character, then a dict lookup in C), so
    non-ASCII text is filtered nearly as fast as ASCII. At most 65,536 characters are
    remembered per table; past that the category is looked up each time."""

    def __init__(self, *, keep: tuple[str, ...] = (), drop: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.keep = keep
        self.drop = drop

    def __missing__(self, codepoint: int) -> int | None:
        char = chr(codepoint)
        kind = unicodedata.category(char)
        if self.keep:
            kept = kind.startswith(self.keep)
        else:
            # Control characters go too, except whitespace (collapsed by the caller).
            kept = not kind.startswith(self.drop) and (kind != "Cc" or char.isspace())
        result = codepoint if kept else None
        if len(self) < _CATEGORY_FILTER_SIZE:  # bounded: input is untrusted
            self[codepoint] = result
        return result


_PUNCT_SYMBOLS = _CategoryFilter(drop=("P", "S"))
_PUNCT_SYMBOLS_DIGITS = _CategoryFilter(drop=("P", "S", "N"))
_NUMBERS = _CategoryFilter(drop=("N",))
_LETTERS_AND_MARKS = _CategoryFilter(keep=("L", "M"))
_LETTERS_AND_DIGITS = _CategoryFilter(keep=("L", "N"))


def _letters_and_marks(text: str) -> str:
    if text.isascii():
        return "".join(filter(str.isalpha, text))
    # Removing a space can put a base letter next to a combining mark: compose them.
    return unicodedata.normalize("NFC", text.translate(_LETTERS_AND_MARKS))


_ASCII_NOT_ALNUM = "".join(chr(c) for c in range(128) if not chr(c).isalnum())
_DROP_ASCII_NOT_ALNUM = str.maketrans("", "", _ASCII_NOT_ALNUM)


def _fold_key(text: str) -> str:
    """Lookup key for names in tables: accents and everything but letters and digits gone."""
    if text.isascii():
        return text.lower().translate(_DROP_ASCII_NOT_ALNUM)
    # NFKD splits accents off as combining marks (category M), which the filter drops.
    return unicodedata.normalize("NFKD", text).casefold().translate(_LETTERS_AND_DIGITS)


# --- e-mail ------------------------------------------------------------------------------

_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def _parse_email(value: str, field: str, default_region: str | None = None) -> tuple[str, str]:
    text = _nfc_lower(value)
    if " " in text or not text.isprintable():
        # Google says "remove all spaces"; after trimming, a space inside an address means it
        # is not an address, so we refuse rather than guess which of two addresses was meant.
        raise PIIValueError(field, "email_invalid", "contains whitespace or invisible characters")
    local, at, domain = text.rpartition("@")
    if not at:
        raise PIIValueError(field, "email_missing_at", "has no '@'")
    if "@" in local:
        raise PIIValueError(field, "email_invalid", "has more than one '@'")
    if not local:
        raise PIIValueError(field, "email_empty_local", "has nothing before the '@'")
    if not domain:
        raise PIIValueError(field, "email_empty_domain", "has nothing after the '@'")
    if local[0] == "." or local[-1] == "." or ".." in local:
        raise PIIValueError(field, "email_invalid_local", "has a misplaced '.' before the '@'")
    if "." not in domain or domain[0] == "." or domain[-1] == "." or ".." in domain:
        raise PIIValueError(field, "email_invalid_domain", "has no valid domain after the '@'")
    if local[0] == "+" and domain in _GMAIL_DOMAINS:
        # Google drops a Gmail "+tag" (below), which would leave no mailbox name at all; Gmail
        # has no such address, so it is refused for every spec (validity never depends on it).
        raise PIIValueError(field, "email_invalid_local", "has no mailbox name before its '+'")
    return local, domain


def _render_email(parsed: tuple[str, str], spec: str) -> str:
    local, domain = parsed
    if spec == "google" and domain in _GMAIL_DOMAINS:
        # Google, for gmail.com and googlemail.com only: "Remove all dots (.) before the @
        # symbol. Remove the plus sign (+) from the local-part and remove all characters that
        # follow it" (Data Manager API, "Format user data"; GA4 and Google Ads name the dots
        # only). Other domains keep both; Meta and TikTok do neither.
        if "+" in local:
            local = local.partition("+")[0]
        local = local.replace(".", "")
    return f"{local}@{domain}"


# --- phone -------------------------------------------------------------------------------

_LEADING_PLUS = re.compile(r"\s*[+\uff0b]")
_INTERNATIONAL = re.compile(r"\+([1-9][0-9]{2,19})", re.ASCII)
_NATIONAL = re.compile(r"[0-9]{3,20}", re.ASCII)
_CALLING_CODES = frozenset(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def _parse_phone(value: str, field: str, default_region: str | None) -> str:
    """E.164 (``+16505551212``)."""
    return _phone_e164(value, default_region, field)


def _phone_e164(value: str, default_region: str | None, field: str) -> str:
    text = value
    if text.startswith("00"):
        # "00" is the international prefix in most of the world: the number carries its own
        # country code, whatever the default region (whose own prefix may differ: US 011).
        text = "+" + text[2:]
    region = None
    if default_region is not None:
        region = default_region.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise PIIValueError(
                field, "region_unknown", "default_region is not an ISO 3166-1 alpha-2 region"
            )
    fast = _international_e164(text)
    if fast is not None:
        return fast
    has_plus = _LEADING_PLUS.match(text) is not None
    if (
        not has_plus
        and _NATIONAL.fullmatch(digits := _without_separators(text))
        and digits[0] != "0"
    ):
        # No "+" and no trunk 0: Meta's rule is that numbers carry their country code, and
        # "1 650 555 0199" does; yet a national number may be written the same way. (Only for
        # digits and the usual separators: anything else is read as before.)
        read = _reading_that_is_valid(text, region)
        if read is not None:
            return read
    if region is not None and not has_plus:
        fast = _national_e164(text, region)
        if fast is not None:
            return fast
    if not has_plus and region is None:
        raise PIIValueError(
            field,
            "phone_no_country_code",
            "has no country code ('+' or '00') and no default_region was given",
        )
    try:
        number = phonenumbers.parse(text, None if has_plus else region)
    except phonenumbers.NumberParseException as exc:
        raise PIIValueError(field, "phone_unparseable", "is not a phone number") from exc
    if not phonenumbers.is_possible_number(number):
        raise PIIValueError(
            field, "phone_not_possible", "has the wrong number of digits for its country"
        )
    return f"+{number.country_code}{phonenumbers.national_significant_number(number)}"


def _first_digit(text: str) -> str | None:
    for char in text:
        if "0" <= char <= "9":
            return char
        if char.isdigit():  # as phonenumbers reads digits: any script's, as ASCII
            return phonenumbers.normalize_digits_only(char) or None
    return None


def _parsed(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    """``phonenumbers.parse(text, region)``, through the fast paths when they answer (they
    are held equal to it by the differential tests), or None when it cannot be read."""
    fast = _international_e164(text) if region is None else _national_e164(text, region)
    if fast is not None:
        digits = fast[1:]
        for size in (1, 2, 3):  # calling codes are prefix-free
            if int(digits[:size]) in _CALLING_CODES:
                return phonenumbers.PhoneNumber(
                    country_code=int(digits[:size]), national_number=int(digits[size:])
                )
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def _reading_that_is_valid(text: str, region: str | None) -> str | None:
    """A number written without "+" or a leading 0: read with its own country code, or as a
    national number of ``region`` — whichever phonenumbers finds *valid* (a number in a
    range that is assigned, not just of a possible length). When both are, the region
    decides: where national numbers are written with a trunk 0 (DE, GB, FR …) one without it
    carries its country code; elsewhere (US, IT, BR …) national numbers are written bare, so
    it is national. None leaves it to the caller, which reads it nationally as before (or
    refuses it without a region): so the national reading's validity is only asked where it
    decides something, and the common cases cost one check."""
    if region is None or _writes_trunk_zero(region):
        return _valid_international(text)
    number = _parsed(text, region)
    national = (
        None
        if number is None
        else f"+{number.country_code}{phonenumbers.national_significant_number(number)}"
    )
    # Valid in the region itself is the common case, and cheaper than asking every region that
    # shares the calling code (+1 has 25), which is asked only when it decides.
    if number is not None and _valid_in_region(number, region):
        return national
    international = _valid_international(text)
    if international is not None and number is not None and phonenumbers.is_valid_number(number):
        return national
    return international


def _valid_international(text: str) -> str | None:
    if not _may_be_international(text):
        return None
    number = _parsed("+" + text, None)
    if number is None or not _is_valid(number):
        return None
    return f"+{number.country_code}{phonenumbers.national_significant_number(number)}"


# phonenumbers' number types, in the order its _number_type_helper tries them; mobile last,
# and only where its pattern differs from fixed line's.
_NUMBER_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
)
_Desc = tuple[frozenset[int], re.Pattern[str]]


@cache
def _validity_rules(region: str) -> tuple[int, _Desc, tuple[_Desc, ...]] | None:
    """(calling code, general description, type descriptions) of ``region``, compiled once:
    phonenumbers compiles them through ``re``'s cache of 512 patterns on every check, which
    more than a few regions' metadata overflows."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)

    def compiled(desc) -> _Desc | None:
        if desc is None or desc.national_number_pattern is None:
            return None
        return frozenset(desc.possible_length), re.compile(desc.national_number_pattern)

    general = compiled(metadata.general_desc) if metadata is not None else None
    if general is None:
        return None
    names = _NUMBER_TYPES + (() if metadata.same_mobile_and_fixed_line_pattern else ("mobile",))
    types = tuple(d for d in (compiled(getattr(metadata, name)) for name in names) if d)
    return metadata.country_code, general, types


def _matches(national: str, desc: _Desc) -> bool:
    lengths, pattern = desc
    return (not lengths or len(national) in lengths) and pattern.fullmatch(national) is not None


def _valid_in_region(number: phonenumbers.PhoneNumber, region: str) -> bool:
    """``phonenumbers.is_valid_number_for_region``, with the patterns compiled once (a
    differential test holds the two equal): the number matches the region's general
    description and at least one of its number types."""
    rules = _validity_rules(region)
    if rules is None or number.country_code != rules[0]:
        return False
    national = phonenumbers.national_significant_number(number)
    return _matches(national, rules[1]) and any(_matches(national, d) for d in rules[2])


def _is_valid(number: phonenumbers.PhoneNumber) -> bool:
    """``phonenumbers.is_valid_number``: for a calling code of one region, that region's
    check; for a shared one (+1, +7, +44 …) or a non-geographic one, phonenumbers' own."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(number.country_code, ())
    if len(regions) == 1 and regions[0] != phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
        return _valid_in_region(number, regions[0])
    return phonenumbers.is_valid_number(number)


def _may_be_international(text: str) -> bool:
    """False when "+digits" cannot be a valid number: no calling code in front, or a rest
    whose length no number of that code has (what is left is decided by phonenumbers)."""
    digits = _without_separators(text)
    if not (digits.isascii() and digits.isdigit()):
        digits = phonenumbers.normalize_digits_only(text)
    for size in (1, 2, 3):
        if int(digits[:size] or 0) in _CALLING_CODES:
            _, lengths = _calling_code_rules(int(digits[:size]))
            return not lengths or len(digits) - size in lengths
    return False


@cache
def _writes_trunk_zero(region: str) -> bool:
    """Whether ``region`` writes its national numbers with a leading trunk 0 (its national
    prefix is 0 and its example number, formatted nationally, starts with it)."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.national_prefix != "0":
        return False
    example = phonenumbers.example_number(region)
    if example is None:
        return False
    national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
    return _first_digit(national) == "0"


@cache
def _calling_code_rules(calling_code: int) -> tuple[re.Pattern[str] | None, frozenset[int]]:
    """(national prefix pattern, national number lengths that are possible) for a code,
    read from phonenumbers' metadata (its general description, as ``is_possible_number``
    reads it for a number of unknown type)."""
    region = phonenumbers.region_code_for_country_code(calling_code)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(calling_code, region)
    if metadata is None:
        return None, frozenset()  # no lengths: every number takes the full parse
    general = metadata.general_desc
    lengths = frozenset(general.possible_length) | frozenset(general.possible_length_local_only)
    prefix = metadata.national_prefix_for_parsing
    return (re.compile(prefix) if prefix else None), lengths


def _international_e164(text: str) -> str | None:
    """What ``phonenumbers.parse`` then ``is_possible_number`` give, for the common case.

    ``parse`` costs ~30 µs, most of it generic text handling. For "+", digits and the usual
    separators, it reduces to: the calling code is the 1-3 digit prefix found in its table;
    a national prefix is stripped only where the region's ``national_prefix_for_parsing``
    matches the rest; and the number is possible when the rest's length is one of the
    region's possible (or local-only) lengths. Here, a rest that the prefix pattern matches,
    or that starts with 0 (Italian leading zeros), or anything else unusual (letters,
    extensions, other characters, an impossible length) returns None and takes the full
    parse, which also gives the exact error. A differential test holds this equal to it.
    """
    if text[:1] != "+":
        return None
    match = _INTERNATIONAL.fullmatch(_without_separators(text))
    if match is None:
        return None
    digits = match.group(1)
    for size in (1, 2, 3):
        calling_code = int(digits[:size])
        if calling_code in _CALLING_CODES:
            break
    else:
        return None
    national = digits[size:]
    prefix, lengths = _calling_code_rules(calling_code)
    if (
        len(national) not in lengths
        or national[0] == "0"
        or (prefix is not None and prefix.match(national))
    ):
        return None
    return "+" + digits


def _without_separators(text: str) -> str:
    # Chained replace() is several times faster than translate() or re.sub() here.
    return (
        text.replace(" ", "")
        .replace("-", "")
        .replace("(", "")
        .replace(")", "")
        .replace(".", "")
        .replace("/", "")
    )


@dataclass(frozen=True)
class _RegionRules:
    calling_code: int
    international_prefix: re.Pattern[str] | None
    national_prefix: re.Pattern[str] | None
    national_number: re.Pattern[str] | None
    lengths: frozenset[int]  # possible national number lengths in this region
    local_lengths: frozenset[int]  # possible only when dialled locally


@cache
def _region_rules(region: str) -> _RegionRules | None:
    """A region's parsing rules from phonenumbers' metadata, or None when its national
    prefix needs a transform rule (then the full parse runs)."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.national_prefix_transform_rule:
        return None
    general = metadata.general_desc

    def compiled(pattern: str | None) -> re.Pattern[str] | None:
        return re.compile(pattern) if pattern else None

    return _RegionRules(
        calling_code=metadata.country_code,
        international_prefix=compiled(metadata.international_prefix),
        national_prefix=compiled(metadata.national_prefix_for_parsing),
        national_number=compiled(general.national_number_pattern),
        lengths=frozenset(general.possible_length),
        local_lengths=frozenset(general.possible_length_local_only),
    )


def _national_e164(text: str, region: str) -> str | None:
    """What ``phonenumbers.parse(text, region)`` then ``is_possible_number`` give, for a
    number written nationally (digits and separators), or None to take the full parse.

    ``parse`` first looks for the region's international prefix and for the region's own
    calling code written in front; numbers with either are left to it. Otherwise the digits
    are the national number, from which ``parse`` strips a national prefix (the region's
    ``national_prefix_for_parsing``, e.g. "0") unless the number matched the region's
    national number pattern before stripping and does not after, and keeps the stripped form
    only if its length is possible in the region (or too long). ``is_possible_number`` then
    checks the length against the calling code's main region. Regions whose prefix needs a
    transform rule are left to ``parse``. The differential test holds this equal to it.
    """
    match = _NATIONAL.fullmatch(_without_separators(text))
    rules = _region_rules(region)
    if match is None or rules is None:
        return None
    digits = match.group(0)
    idd = rules.international_prefix
    if (idd is not None and idd.match(digits)) or digits.startswith(str(rules.calling_code)):
        return None
    national = digits
    prefix = rules.national_prefix.match(digits) if rules.national_prefix else None
    if prefix is not None:
        rest = digits[prefix.end() :]
        pattern = rules.national_number
        viable_before = pattern is not None and pattern.fullmatch(digits) is not None
        viable_after = pattern is not None and pattern.fullmatch(rest) is not None
        length_ok = len(rest) not in rules.local_lengths and (
            len(rest) in rules.lengths or (bool(rules.lengths) and len(rest) > max(rules.lengths))
        )
        if (viable_after or not viable_before) and length_ok:
            national = rest
    _, possible = _calling_code_rules(rules.calling_code)
    if not 2 <= len(national) <= 17 or national[0] == "0" or len(national) not in possible:
        return None
    return f"+{rules.calling_code}{national}"


def _render_phone(e164: str, spec: str) -> str:
    # Meta: digits only, country code first, no "+" and no leading zeros (E.164 minus "+").
    # Google and TikTok: E.164 with the "+".
    return e164[1:] if spec == "meta" else e164


# --- names -------------------------------------------------------------------------------


def _parse_name(value: str, field: str, default_region: str | None = None) -> str:
    """Lowercase, punctuation and symbols removed, spaces collapsed (the Meta/TikTok form)."""
    text = _nfc_lower(value)
    if text.isascii():
        text = text.translate(_DROP_PUNCT)
    else:
        text = unicodedata.normalize("NFC", text.translate(_PUNCT_SYMBOLS))
    text = _collapse_spaces(text)
    if not _has_letter(text):
        raise PIIValueError(field, "no_letters", "has no letters")
    return text


def _render_name(name: str, spec: str) -> str:
    if spec != "google":
        return name
    # Google: "remove digits and symbol characters" (we removed punctuation and symbols).
    if name.isascii():
        return _collapse_spaces(name.translate(_DROP_DIGITS))
    return _collapse_spaces(unicodedata.normalize("NFC", name.translate(_NUMBERS)))


# --- city and state ----------------------------------------------------------------------


def _clean_place(value: str, field: str, default_region: str | None = None) -> str:
    """Google's form: lowercase, digits/punctuation/symbols removed, spaces kept (collapsed)."""
    text = _nfc_lower(value)
    if text.isascii():
        text = text.translate(_DROP_PUNCT_DIGITS)
    else:
        text = unicodedata.normalize("NFC", text.translate(_PUNCT_SYMBOLS_DIGITS))
    text = _collapse_spaces(text)
    if not _has_letter(text):
        raise PIIValueError(field, "no_letters", "has no letters")
    return text


def _render_city(city: str, spec: str) -> str:
    # Meta (and TikTok, see docs): "no punctuation, no special characters, and no spaces".
    return city if spec == "google" else _letters_and_marks(city)


_US_STATE_BY_KEY = {
    **{_fold_key(name): code for name, code in pii_tables.US_STATES.items()},
    **{code: code for code in pii_tables.US_STATES.values()},
}


def _parse_state(
    value: str, field: str, default_region: str | None = None
) -> tuple[str | None, str]:
    place = _clean_place(value, field)
    return _US_STATE_BY_KEY.get(_fold_key(place)), place


def _render_state(parsed: tuple[str | None, str], spec: str) -> str:
    us_code, place = parsed
    if spec == "google":
        # Google asks for the region as written, normalised (its own example: "california").
        return place
    # Meta: the two-letter ANSI code for US states; elsewhere lowercase letters, no spaces.
    return us_code if us_code is not None else _letters_and_marks(place)


# --- postal code -------------------------------------------------------------------------

_US_ZIP = re.compile(r"[0-9]{5}(?:[0-9]{4})?", re.ASCII)
_NOT_ALNUM = re.compile(r"[\W_]+")
_GOOGLE_ZIP_DROP = str.maketrans("", "", ".~")


def _parse_zip(value: str, field: str, default_region: str | None = None) -> str:
    text = _nfc(value)
    if not any(map(str.isalnum, text)):
        raise PIIValueError(field, "zip_invalid", "has no letters or digits")
    return text


def _render_zip(text: str, spec: str) -> str:
    if spec == "google":
        # Google: "remove . and ~ characters, remove leading and trailing spaces". It is sent
        # unhashed, so nothing more is changed (case and inner spaces stay as given) — except
        # NFC again: removing a "." can join a letter to a combining mark.
        return _nfc(text.translate(_GOOGLE_ZIP_DROP).strip())
    compact = _NOT_ALNUM.sub("", _nfc_lower(text))
    if _US_ZIP.fullmatch(compact):
        # Meta: "Use only the first 5 digits for U.S. zip codes" (ZIP+4 becomes ZIP).
        return compact[:5]
    return compact


# --- country -----------------------------------------------------------------------------

_COUNTRY_ALPHA2 = frozenset(alpha2 for alpha2, _, _ in pii_tables.COUNTRIES)
_COUNTRY_BY_KEY = {
    **{_fold_key(name): code for name, code in pii_tables.COUNTRY_ALIASES.items()},
    **{_fold_key(name): alpha2 for alpha2, _, names in pii_tables.COUNTRIES for name in names},
    **{alpha3: alpha2 for alpha2, alpha3, _ in pii_tables.COUNTRIES},
}


@lru_cache(maxsize=1)
def _country_names_in_other_languages() -> dict[str, str]:
    """Country names in the ~190 languages phonenumbers' geocoder knows ("Deutschland",
    "Allemagne", "Niemcy" -> "de"). Importing them takes more than half a second, so it happens
    on the first name the English table does not know. A key that names two countries in
    different languages is dropped: an ambiguous country is unknown, not guessed."""
    from phonenumbers.geodata.locale import LOCALE_DATA

    found: dict[str, str] = {}
    ambiguous: set[str] = set()
    for region, names in LOCALE_DATA.items():
        code = region.lower()
        if code not in _COUNTRY_ALPHA2:
            continue
        for name in names.values():
            key = _fold_key(name)
            if key and found.setdefault(key, code) != code:
                ambiguous.add(key)
    for key in ambiguous:
        del found[key]
    return found


def _parse_country(value: str, field: str, default_region: str | None = None) -> str:
    key = _fold_key(value)
    if key in _COUNTRY_ALPHA2:
        return key
    code = _COUNTRY_BY_KEY.get(key)
    if code is None and len(key) > 3:
        code = _country_names_in_other_languages().get(key)
    if code is None:
        raise PIIValueError(
            field, "country_unknown", "is not an ISO 3166-1 country code or country name"
        )
    return code


def _render_country(code: str, spec: str) -> str:
    # Meta and TikTok: lowercase alpha-2. Google sends it unhashed as an ISO 3166-1 alpha-2
    # code and writes it in capitals ("US") in its own example.
    return code.upper() if spec == "google" else code


# --- date of birth -----------------------------------------------------------------------

_DATE_YMD_COMPACT = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})", re.ASCII)
_DATE_YMD = re.compile(r"([0-9]{4})([-/.])([0-9]{1,2})\2([0-9]{1,2})", re.ASCII)
_DATE_US = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})", re.ASCII)
_DATE_DOTTED = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})", re.ASCII)
_EARLIEST_BIRTH_YEAR = 1900  # Meta: "Use the YYYY format from 1900 to current year."


def _parse_date(value: str, field: str, default_region: str | None = None) -> str:
    """YYYYMMDD from YYYYMMDD, YYYY-MM-DD (or / .), MM/DD/YYYY (US, as in Meta's example
    "2/16/1997") or DD.MM.YYYY. DD-MM-YYYY or MM-DD-YYYY cannot be told apart: refused."""
    text = value.strip()
    if match := _DATE_YMD_COMPACT.fullmatch(text):
        year, month, day = match.groups()
    elif match := _DATE_YMD.fullmatch(text):
        year, _, month, day = match.groups()
    elif match := _DATE_US.fullmatch(text):
        month, day, year = match.groups()
    elif match := _DATE_DOTTED.fullmatch(text):
        day, month, year = match.groups()
    else:
        raise PIIValueError(
            field, "date_invalid", "is not a date in YYYYMMDD, YYYY-MM-DD or MM/DD/YYYY form"
        )
    try:
        born = datetime.date(int(year), int(month), int(day))
    except ValueError as exc:
        raise PIIValueError(field, "date_invalid", "is not a real calendar date") from exc
    if born.year < _EARLIEST_BIRTH_YEAR or born > _today():
        raise PIIValueError(field, "date_out_of_range", "is before 1900 or in the future")
    return year + month.zfill(2) + day.zfill(2)


_today_until: list[Any] = [datetime.date.min, 0.0]


def _today() -> datetime.date:
    # date.today() costs a system call and a localtime(); a birth date checked against a
    # date up to a minute old is checked just as well.
    now = time.monotonic()
    if now >= _today_until[1]:
        _today_until[:] = [datetime.date.today(), now + 60.0]
    return _today_until[0]


# --- gender ------------------------------------------------------------------------------

_GENDERS = {"f": "f", "female": "f", "woman": "f", "m": "m", "male": "m", "man": "m"}


def _parse_gender(value: str, field: str, default_region: str | None = None) -> str:
    gender = _GENDERS.get(_nfc_lower(value))
    if gender is None:
        # Meta accepts only "f" and "m"; anything else is dropped, not guessed.
        raise PIIValueError(field, "gender_unknown", "is not one of f, m, female, male")
    return gender


# --- external id -------------------------------------------------------------------------


def _parse_external_id(value: str, field: str, default_region: str | None = None) -> str:
    # Opaque: trimmed and NFC only, never lowercased. Meta wants it "in the same format" as
    # sent through other channels, and TikTok's own GTM template hashes it without
    # lowercasing; changing its case would make it a different id.
    return _nfc(value)


def _same(parsed: str, spec: str) -> str:
    return parsed


# --- dispatch ----------------------------------------------------------------------------

_Parser = Callable[[str, str, "str | None"], Any]
_Renderer = Callable[[Any, str], str]

# field -> (parse: value -> one spec-independent parsed value or PIIValueError,
#           render: parsed value, spec -> the form that spec matches on; never raises)
_RULES: dict[str, tuple[_Parser, _Renderer]] = {
    "em": (_parse_email, _render_email),
    "ph": (_parse_phone, _render_phone),
    "fn": (_parse_name, _render_name),
    "ln": (_parse_name, _render_name),
    "ct": (_clean_place, _render_city),
    "st": (_parse_state, _render_state),
    "zp": (_parse_zip, _render_zip),
    "country": (_parse_country, _render_country),
    "external_id": (_parse_external_id, _same),
    "ge": (_parse_gender, _same),
    "db": (_parse_date, _same),
}


def _unknown_field(field: str) -> PIIValueError:
    if field in NEVER_HASHED:
        return PIIValueError(
            field,
            "field_never_hashed",
            "is sent to the platforms as it is and must never be normalised or hashed",
        )
    return PIIValueError(str(field), "field_unknown", f"is not one of {', '.join(FIELDS)}")


def _unknown_spec(field: str) -> PIIValueError:
    return PIIValueError(field, "spec_unknown", f"spec is not one of {', '.join(SPECS)}")


def _prepared(field: str, value: str) -> tuple[tuple[_Parser, _Renderer], str]:
    """The field's rules and the trimmed value, or the error every entry point shares."""
    rules = _RULES.get(field)
    if rules is None:
        raise _unknown_field(field)
    if value.__class__ is not str:
        raise PIIValueError(field, "not_text", "is not a string")
    text = value.strip()
    if not text:
        raise PIIValueError(field, "empty", "is empty")
    return rules, text


def _normal_form(field: str, value: str, spec: str, default_region: str | None) -> tuple[str, bool]:
    """(form, True) for a value that already is a SHA-256 digest, else (form, False)."""
    # _prepared() inlined: this runs once per identifier and a call is a tenth of a µs.
    rules = _RULES.get(field)
    if rules is None:
        raise _unknown_field(field)
    if value.__class__ is not str:
        raise PIIValueError(field, "not_text", "is not a string")
    text = value.strip()
    if not text:
        raise PIIValueError(field, "empty", "is empty")
    if spec not in SPECS:
        raise _unknown_spec(field)
    if len(text) == 64 and _HEX64.fullmatch(text):
        return text.lower(), True
    parse, render = rules
    return render(parse(text, field, default_region), spec), False


# --- public API --------------------------------------------------------------------------


def normalize(
    field: str, value: str, *, spec: str = "meta", default_region: str | None = None
) -> str:
    """The form ``spec`` matches ``field`` on, or ``PIIValueError``.

    A SHA-256 hex digest comes back as it is (lowercased). ``default_region`` (ISO alpha-2)
    is used only for a phone number written without a country code.
    """
    return _normal_form(field, value, spec, default_region)[0]


def hashed(field: str, value: str, *, spec: str = "meta", default_region: str | None = None) -> str:
    """Lowercase hex SHA-256 of ``normalize(...)`` as UTF-8; a digest passes through."""
    form, already_hashed = _normal_form(field, value, spec, default_region)
    return form if already_hashed else _SHA256(form.encode("utf-8")).hexdigest()


def hashed_for_specs(
    field: str,
    value: str,
    *,
    specs: Iterable[str] = SPECS,
    default_region: str | None = None,
    memo: dict | None = None,
) -> dict[str, str]:
    """``{spec: hashed(field, value, spec=spec)}`` for every spec in ``specs``.

    The value is parsed once and each distinct per-spec form hashed once (an e-mail is one
    hash for all three unless Google drops Gmail dots). Validity does not depend on the spec,
    so this raises ``PIIValueError`` exactly when the value cannot be used at all, and the
    caller drops the field for every platform with one warning.

    ``memo`` (a dict the caller owns and drops, e.g. one per ingestion request) remembers the
    answers for values seen again while it lives, at most ``MEMO_SIZE`` of them; refusals are
    not remembered.
    """
    if value.__class__ is not str:
        raise PIIValueError(field, "not_text", "is not a string")
    # A lone string is one spec, not an iterable of one-letter specs.
    wanted = specs if specs is SPECS else (specs,) if isinstance(specs, str) else tuple(specs)
    if memo is None:
        return dict(_hashes(field, value, wanted, default_region))
    key = (field, value, wanted, default_region)
    found = memo.get(key)
    if found is None:
        found = _hashes(field, value, wanted, default_region)
        if len(memo) < MEMO_SIZE:
            memo[key] = found
    return dict(found)


def _hashes(
    field: str, value: str, specs: tuple[str, ...], default_region: str | None
) -> tuple[tuple[str, str], ...]:
    (parse, render), text = _prepared(field, value)
    if specs is not SPECS and any(spec not in SPECS for spec in specs):
        raise _unknown_spec(field)
    if len(text) == 64 and _HEX64.fullmatch(text):
        digest = text.lower()
        return tuple((spec, digest) for spec in specs)
    parsed = parse(text, field, default_region)
    by_form: dict[str, str] = {}
    result = []
    for spec in specs:
        form = render(parsed, spec)
        digest = by_form.get(form)
        if digest is None:
            digest = by_form[form] = _SHA256(form.encode("utf-8")).hexdigest()
        result.append((spec, digest))
    return tuple(result)


def cache_clear() -> None:
    """Kept for callers that empty caches before timing: no cache holds a value any more
    (what is remembered across calls is compiled rules and per-character tables only)."""
