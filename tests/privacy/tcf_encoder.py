"""A TC string encoder written from the IAB TCF v2 specification, for tests, benchmarks and demos.

It shares no code with ``privacy/tcf.py`` on purpose: it builds the string as text of "0"/"1"
characters, field by field in the order of the specification's tables, and only then turns it
into web-safe base64. A decoder bug then cannot hide behind the same bug in the encoder.

Specification: IAB Tech Lab, "Consent string and vendor list formats v2", section "TC String
Format" (core string, disclosed vendors, allowed vendors, publisher purposes TC).

The building blocks (``uint``, ``bitfield``, ``range_entries``, ``vendor_section``,
``core_fixed_bits``, ``core_bits``, ``segment_bits``, ``publisher_tc_bits``, ``to_base64url``)
are public so that tests can assemble malformed strings bit by bit.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import UTC, datetime

DISCLOSED_VENDORS = 1
ALLOWED_VENDORS = 2
PUBLISHER_TC = 3

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- fields ---------------------------------------------------------------------------------


def uint(value: int, width: int) -> str:
    """An unsigned integer in ``width`` bits, most significant first."""
    if not 0 <= value < 2**width:
        raise ValueError(f"{value} does not fit in {width} bits")
    return format(value, f"0{width}b") if width else ""


def flag(value: bool) -> str:
    return "1" if value else "0"


def deciseconds(moment: datetime) -> str:
    """Created / LastUpdated: deciseconds since the epoch in 36 bits."""
    delta = moment - EPOCH
    tenths = (delta.days * 86_400 + delta.seconds) * 10 + delta.microseconds // 100_000
    return uint(tenths, 36)


def letters(code: str) -> str:
    """ConsentLanguage / PublisherCC: two letters, each 6 bits, A=0 … Z=25."""
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        raise ValueError(f"{code!r} is not two letters")
    return "".join(uint(ord(letter) - ord("A"), 6) for letter in code.upper())


def bitfield(ids: Iterable[int], width: int) -> str:
    """One bit per id 1..width; the leftmost bit is id 1."""
    chosen = set(ids)
    if chosen and (min(chosen) < 1 or max(chosen) > width):
        raise ValueError(f"ids {sorted(chosen)} do not fit a {width}-bit field")
    return "".join("1" if number in chosen else "0" for number in range(1, width + 1))


def runs(ids: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted ids as (start, end) runs of consecutive ids."""
    result: list[tuple[int, int]] = []
    for number in sorted(set(ids)):
        if result and result[-1][1] == number - 1:
            result[-1] = (result[-1][0], number)
        else:
            result.append((number, number))
    return result


def range_entries(ranges: Iterable[tuple[int, int]]) -> str:
    """NumEntries (12 bits), then per entry IsARange (1), StartOrOnlyVendorId (16) and, for a
    range, EndVendorId (16). ``ranges`` are written as given (no checks: tests use this to
    write ranges that end before they start)."""
    entries = list(ranges)
    out = [uint(len(entries), 12)]
    for start, end in entries:
        if start == end:
            out.append("0" + uint(start, 16))
        else:
            out.append("1" + uint(start, 16) + uint(end, 16))
    return "".join(out)


def vendor_section(
    ids: Iterable[int], *, encoding: str = "auto", max_vendor_id: int | None = None
) -> str:
    """MaxVendorId (16), IsRangeEncoding (1), then a bitfield or range entries.

    ``encoding``: "bitfield", "range", or "auto" for the shorter of the two (the
    specification asks encoders to choose the smaller output). ``max_vendor_id`` defaults
    to the largest id.
    """
    chosen = sorted(set(ids))
    highest = max_vendor_id if max_vendor_id is not None else (chosen[-1] if chosen else 0)
    as_ranges = range_entries(runs(chosen))
    if encoding == "auto":
        encoding = "range" if len(as_ranges) < highest else "bitfield"
    if encoding == "bitfield":
        return uint(highest, 16) + "0" + bitfield(chosen, highest)
    if encoding == "range":
        return uint(highest, 16) + "1" + as_ranges
    raise ValueError(f"unknown encoding {encoding!r}")


def publisher_restrictions_bits(restrictions: Iterable[tuple[int, int, Iterable[int]]]) -> str:
    """NumPubRestrictions (12), then per restriction PurposeId (6), RestrictionType (2) and
    its vendors as range entries."""
    entries = list(restrictions)
    out = [uint(len(entries), 12)]
    for purpose_id, restriction_type, vendors in entries:
        out.append(uint(purpose_id, 6) + uint(restriction_type, 2))
        out.append(range_entries(runs(vendors)))
    return "".join(out)


# --- segments -------------------------------------------------------------------------------


def core_fixed_bits(
    *,
    version: int = 2,
    created: datetime,
    last_updated: datetime | None = None,
    cmp_id: int = 0,
    cmp_version: int = 0,
    consent_screen: int = 0,
    consent_language: str = "EN",
    vendor_list_version: int = 0,
    policy_version: int = 4,
    is_service_specific: bool = False,
    use_non_standard_texts: bool = False,
    special_feature_optins: Iterable[int] = (),
    purpose_consents: Iterable[int] = (),
    purpose_legitimate_interests: Iterable[int] = (),
    purpose_one_treatment: bool = False,
    publisher_cc: str = "AA",
) -> str:
    """The core string's fixed 213 bits, Version to PublisherCC, in the specification's order."""
    return "".join(
        (
            uint(version, 6),
            deciseconds(created),
            deciseconds(last_updated if last_updated is not None else created),
            uint(cmp_id, 12),
            uint(cmp_version, 12),
            uint(consent_screen, 6),
            letters(consent_language),
            uint(vendor_list_version, 12),
            uint(policy_version, 6),
            flag(is_service_specific),
            flag(use_non_standard_texts),
            bitfield(special_feature_optins, 12),
            bitfield(purpose_consents, 24),
            bitfield(purpose_legitimate_interests, 24),
            flag(purpose_one_treatment),
            letters(publisher_cc),
        )
    )


def core_bits(
    *,
    vendor_consents: Iterable[int] = (),
    vendor_legitimate_interests: Iterable[int] = (),
    publisher_restrictions: Iterable[tuple[int, int, Iterable[int]]] = (),
    vendor_encoding: str = "auto",
    **fixed: object,
) -> str:
    """The core string: the fixed fields (see :func:`core_fixed_bits`), the vendor consent
    section, the vendor legitimate interest section and the publisher restrictions."""
    return (
        core_fixed_bits(**fixed)  # type: ignore[arg-type]
        + vendor_section(vendor_consents, encoding=vendor_encoding)
        + vendor_section(vendor_legitimate_interests, encoding=vendor_encoding)
        + publisher_restrictions_bits(publisher_restrictions)
    )


def segment_bits(segment_type: int, body: str) -> str:
    """A non-core segment: SegmentType (3 bits), then its fields."""
    return uint(segment_type, 3) + body


def publisher_tc_bits(
    consents: Iterable[int],
    legitimate_interests: Iterable[int],
    custom_consents: Iterable[int],
    custom_legitimate_interests: Iterable[int],
    num_custom_purposes: int | None = None,
) -> str:
    """PubPurposesConsent (24), PubPurposesLITransparency (24), NumCustomPurposes (6),
    CustomPurposesConsent and CustomPurposesLITransparency (NumCustomPurposes bits each)."""
    custom = set(custom_consents)
    custom_li = set(custom_legitimate_interests)
    if num_custom_purposes is None:
        num_custom_purposes = max(custom | custom_li, default=0)
    return segment_bits(
        PUBLISHER_TC,
        bitfield(consents, 24)
        + bitfield(legitimate_interests, 24)
        + uint(num_custom_purposes, 6)
        + bitfield(custom, num_custom_purposes)
        + bitfield(custom_li, num_custom_purposes),
    )


BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def to_base64url(bits: str, *, pad_to: int = 8) -> str:
    """Unpadded web-safe base64 of ``bits``, padded with 0 bits to whole bytes (``pad_to=8``,
    what base64 of bytes gives) or only to whole characters (``pad_to=6``, as some encoders
    do: the last character may then hold bits past the last whole byte)."""
    if pad_to == 6:
        bits += "0" * (-len(bits) % 6)
        return "".join(BASE64URL[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))
    bits += "0" * (-len(bits) % 8)
    data = int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def from_base64url(text: str) -> str:
    """The bits of one segment's characters, 6 per character (for tests that flip bits)."""
    return "".join(format(BASE64URL.index(character), "06b") for character in text)


# --- the whole string -----------------------------------------------------------------------


def encode(
    *,
    disclosed_vendors: Iterable[int] | None = None,
    allowed_vendors: Iterable[int] | None = None,
    publisher_consents: Iterable[int] | None = None,
    publisher_legitimate_interests: Iterable[int] | None = None,
    custom_purpose_consents: Iterable[int] | None = None,
    custom_purpose_legitimate_interests: Iterable[int] | None = None,
    num_custom_purposes: int | None = None,
    vendor_encoding: str = "auto",
    **core: object,
) -> str:
    """A TC string: the core segment from ``core`` (see :func:`core_bits`), then a disclosed
    vendors segment if ``disclosed_vendors`` is not None, an allowed vendors segment if
    ``allowed_vendors`` is not None, and a publisher TC segment if any publisher field is not
    None. ``vendor_encoding`` ("auto", "bitfield", "range") applies to every vendor set.
    """
    segments = [core_bits(vendor_encoding=vendor_encoding, **core)]  # type: ignore[arg-type]
    if disclosed_vendors is not None:
        segments.append(
            segment_bits(
                DISCLOSED_VENDORS, vendor_section(disclosed_vendors, encoding=vendor_encoding)
            )
        )
    if allowed_vendors is not None:
        segments.append(
            segment_bits(ALLOWED_VENDORS, vendor_section(allowed_vendors, encoding=vendor_encoding))
        )
    publisher = (
        publisher_consents,
        publisher_legitimate_interests,
        custom_purpose_consents,
        custom_purpose_legitimate_interests,
    )
    if any(field is not None for field in publisher) or num_custom_purposes is not None:
        segments.append(
            publisher_tc_bits(*(field or () for field in publisher), num_custom_purposes)
        )
    return ".".join(to_base64url(bits) for bits in segments)
