"""IAB TCF v2.2 TC string decoder (pure Python, no Django).

Decodes the Transparency & Consent string of the IAB Europe Transparency & Consent Framework
(TCF) v2 — the format of TCF 2.0, 2.2 and 2.3, which share one bit layout — into a frozen
:class:`TCData`. The layout is the IAB Tech Lab's "Consent string and vendor list formats v2"
(https://github.com/InteractiveAdvertisingBureau/GDPR-Transparency-and-Consent-Framework/blob/master/TCFv2/IAB%20Tech%20Lab%20-%20Consent%20string%20and%20vendor%20list%20formats%20v2.md);
``docs/privacy-tcf.md`` summarises it with the choices made here.

Guarantees:

- :func:`decode` returns a :class:`TCData` or raises :class:`TCStringError` — never any other
  exception, whatever it is given (the Hypothesis tests feed it arbitrary and mutated input).
- The work and memory spent are bounded by the input's length, except for vendor *ranges*,
  which can name many ids in a few bits; those are capped at :data:`MAX_VENDOR_IDS` ids in
  all, charged before their sets are built.
- Results are cached (an LRU bounded by entries and by weight, see :data:`CACHE_MAX_WEIGHT`)
  because a visitor's events repeat one string. Parts that repeat across strings — the core
  after its timestamps, vendor sets, publisher restrictions, segments — are decoded once and
  shared: the strings of visitors who made the same choices differ only in their times.
"""

from __future__ import annotations

import binascii
import functools
import re
import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from itertools import compress
from typing import Any, NamedTuple

__all__ = [
    "CACHE_MAX_ENTRIES",
    "CACHE_MAX_WEIGHT",
    "ERROR_CODES",
    "MAX_LENGTH",
    "MAX_VENDOR_IDS",
    "CacheInfo",
    "IdSet",
    "PublisherRestriction",
    "TCData",
    "TCStringError",
    "decode",
    "decode_cache_clear",
    "decode_cache_info",
]

MAX_LENGTH = 65_536
"""Longer input is refused (``too_long``) before any work. Real TC strings are 50 B – 4 KB."""

MAX_VENDOR_IDS = 65_536
"""Most vendor ids one string may name across all its vendor sets (``too_many_vendor_ids``).

A range entry names up to 65,535 ids in 33 bits, so without a cap a 2 KB string of publisher
restrictions could ask for ~10⁷ ids (hundreds of MB). The cap allows a full 1–65,535 range,
and every set of a realistic string many times over (the Global Vendor List has ~1,100
vendors); ranges are charged before their set is built, so refusing costs little.
"""

CACHE_MAX_ENTRIES = 65_536
"""Most strings :func:`decode` keeps decoded (per process)."""

CACHE_MAX_WEIGHT = 1_048_576
"""Most weight :func:`decode`'s cache keeps, in units of one vendor id (~40 bytes of set
table): about 40 MB at worst. A decoded string weighs its ids, plus 8 per set and 50 for the
rest; a realistic one weighs 300–1,500, so ~1,000–3,000 of them fit, and thousands of tiny
ones up to CACHE_MAX_ENTRIES. Bounding the weight rather than the count is what keeps memory
bounded: a few bytes of range entries can decode to a megabyte of sets."""

ERROR_CODES = frozenset(
    {
        "not_a_string",
        "empty",
        "too_long",
        "bad_characters",
        "bad_padding",
        "empty_segment",
        "truncated",
        "unsupported_version",
        "missing_core",
        "unknown_segment_type",
        "duplicate_segment",
        "range_end_before_start",
        "bad_vendor_id",
        "bad_purpose_id",
        "bad_language",
        "bad_country",
        "too_many_vendor_ids",
    }
)
"""Every :attr:`TCStringError.code` :func:`decode` can raise (a stable contract)."""


class TCStringError(ValueError):
    """A TC string that cannot be decoded: ``code`` is stable (one of :data:`ERROR_CODES`),
    ``message`` is for people and may change."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class PublisherRestriction:
    """The publisher's restriction of one purpose for some vendors.

    ``restriction_type``: 0 purpose not allowed, 1 require consent, 2 require legitimate
    interest; 3 is "undefined" in the specification and is passed through as read.
    """

    purpose_id: int
    restriction_type: int
    vendors: AbstractSet[int]  # an IdSet when decoded


@dataclass(frozen=True, slots=True)
class TCData:
    """A decoded TC string. Ids are 1-based as in the specification; purpose and feature sets
    are frozensets, vendor sets are :class:`IdSet` (equal to the frozensets of their ids, read
    from the bits); a set is empty when the segment holding it is absent."""

    version: int
    created: datetime  # aware UTC, decisecond precision
    last_updated: datetime
    cmp_id: int
    cmp_version: int
    consent_screen: int
    consent_language: str  # two upper-case letters, "EN"
    vendor_list_version: int
    policy_version: int
    is_service_specific: bool
    use_non_standard_texts: bool
    special_feature_optins: frozenset[int]
    purpose_consents: frozenset[int]
    purpose_legitimate_interests: frozenset[int]
    purpose_one_treatment: bool
    publisher_cc: str  # two upper-case letters, "FR"
    vendor_consents: AbstractSet[int]
    vendor_legitimate_interests: AbstractSet[int]
    # One entry per (purpose_id, restriction_type), sorted by both: entries of a string that
    # repeats a pair are merged, so equal meaning decodes to equal data.
    publisher_restrictions: tuple[PublisherRestriction, ...]
    disclosed_vendors: AbstractSet[int]  # segment 1
    allowed_vendors: AbstractSet[int]  # segment 2 (deprecated in TCF 2.2, still decoded)
    publisher_consents: frozenset[int]  # segment 3 (publisher TC) from here on
    publisher_legitimate_interests: frozenset[int]
    custom_purpose_consents: frozenset[int]
    custom_purpose_legitimate_interests: frozenset[int]

    def restriction_for(self, *, purpose_id: int, vendor_id: int) -> int | None:
        """The publisher's restriction type for this vendor and purpose, or ``None``.

        The specification allows one restriction per vendor and purpose. Should a string list a
        vendor under several types for one purpose, the strictest wins: 0 (not allowed) before
        1 (require consent) before 2 (require legitimate interest).
        """
        types = [
            restriction.restriction_type
            for restriction in self.publisher_restrictions
            if restriction.purpose_id == purpose_id and vendor_id in restriction.vendors
        ]
        return min(types) if types else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: datetimes as ISO 8601 (milliseconds, UTC offset), sets as sorted lists."""
        return {
            "version": self.version,
            "created": self.created.isoformat(timespec="milliseconds"),
            "last_updated": self.last_updated.isoformat(timespec="milliseconds"),
            "cmp_id": self.cmp_id,
            "cmp_version": self.cmp_version,
            "consent_screen": self.consent_screen,
            "consent_language": self.consent_language,
            "vendor_list_version": self.vendor_list_version,
            "policy_version": self.policy_version,
            "is_service_specific": self.is_service_specific,
            "use_non_standard_texts": self.use_non_standard_texts,
            "special_feature_optins": sorted(self.special_feature_optins),
            "purpose_consents": sorted(self.purpose_consents),
            "purpose_legitimate_interests": sorted(self.purpose_legitimate_interests),
            "purpose_one_treatment": self.purpose_one_treatment,
            "publisher_cc": self.publisher_cc,
            "vendor_consents": sorted(self.vendor_consents),
            "vendor_legitimate_interests": sorted(self.vendor_legitimate_interests),
            "publisher_restrictions": [
                {
                    "purpose_id": restriction.purpose_id,
                    "restriction_type": restriction.restriction_type,
                    "vendors": sorted(restriction.vendors),
                }
                for restriction in self.publisher_restrictions
            ],
            "disclosed_vendors": sorted(self.disclosed_vendors),
            "allowed_vendors": sorted(self.allowed_vendors),
            "publisher_consents": sorted(self.publisher_consents),
            "publisher_legitimate_interests": sorted(self.publisher_legitimate_interests),
            "custom_purpose_consents": sorted(self.custom_purpose_consents),
            "custom_purpose_legitimate_interests": sorted(self.custom_purpose_legitimate_interests),
        }


# --- public entry point --------------------------------------------------------------------


def decode(tc_string: str) -> TCData:
    """Decode a TC string (web-safe base64 segments joined by ``"."``, core segment first).

    Surrounding whitespace is ignored. Correct ``=`` padding of a segment is tolerated though
    TC strings are unpadded. Raises :class:`TCStringError` — and nothing else — when the
    string cannot be decoded. Repeated strings are answered from a bounded LRU cache.
    """
    if type(tc_string) is not str:
        if not isinstance(tc_string, str):
            raise TCStringError(
                "not_a_string", f"A TC string must be a str, not {type(tc_string).__name__}."
            )
        tc_string = str.__str__(tc_string)  # a plain str: a subclass's __hash__ is not ours
    if len(tc_string) > MAX_LENGTH:
        raise TCStringError(
            "too_long",
            f"The TC string is {len(tc_string):,} characters long; at most {MAX_LENGTH:,} "
            "are accepted.",
        )
    data = _DECODED.get(tc_string)
    if data is None:
        data, weight = _decode(tc_string)
        _DECODED.put(tc_string, data, weight)
    return data


class CacheInfo(NamedTuple):
    """What :func:`decode_cache_info` reports."""

    hits: int
    misses: int
    entries: int
    weight: int


class _WeightedLRU:
    """An LRU cache bounded by its entries, by their summed weight, and by the weight of one
    entry (a heavier value is not kept, so that it cannot empty the cache of everything else).

    ``functools.lru_cache`` bounds only the count, and one decoded string can hold a thousand
    times the sets of another. An OrderedDict keeps recency (``move_to_end`` and
    ``popitem(last=False)`` are O(1); a plain dict's first item gets slower to find as items
    are popped from its front). A lock keeps the weight bookkeeping of ``put`` consistent
    across threads.
    """

    def __init__(self, max_entries: int, max_weight: int, max_entry_weight: int) -> None:
        self.max_entries = max_entries
        self.max_weight = max_weight
        self.max_entry_weight = max_entry_weight
        self._entries: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._weight = 0
        self._hits = 0
        self._misses = 0
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        """The value, or None.

        Without the lock (a fifth of the cost): each OrderedDict operation is atomic under the
        GIL, as the keys (str, tuples of ints) run no Python code to hash or compare, and the
        weight is only touched by ``put``. The hit and miss counts may miss a few increments
        when threads race; they are statistics.
        """
        entry = self._entries.get(key)
        if entry is None:
            self._misses += 1
            return None
        try:  # noqa: SIM105 - contextlib.suppress costs a context manager on the hot path
            self._entries.move_to_end(key)
        except KeyError:  # evicted by another thread since the get: still a valid answer
            pass
        self._hits += 1
        return entry[0]

    def put(self, key: Any, value: Any, weight: int) -> None:
        if weight > self.max_entry_weight:
            return
        entries = self._entries
        with self._lock:
            previous = entries.pop(key, None)
            total = self._weight + weight
            if previous is not None:
                total -= previous[1]
            entries[key] = (value, weight)
            if total > self.max_weight or len(entries) > self.max_entries:
                max_weight, max_entries, popitem = (
                    self.max_weight,
                    self.max_entries,
                    entries.popitem,
                )
                while total > max_weight or len(entries) > max_entries:
                    total -= popitem(last=False)[1][1]  # (key, (value, weight))
            self._weight = total

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._weight = self._hits = self._misses = 0

    def info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(self._hits, self._misses, len(self._entries), self._weight)


_DECODED = _WeightedLRU(CACHE_MAX_ENTRIES, CACHE_MAX_WEIGHT, CACHE_MAX_WEIGHT // 16)


class _Generations:
    """A cache of two generations, each a plain dict bounded by half the entries and half the
    weight: entries are put in the young one; when it is full it becomes the old one and the
    old one is dropped whole. A hit in the old generation is put in the young one again, so
    what is used keeps being kept (an approximate LRU); an entry in both counts twice.

    For the shared parts, most of which are put once and never asked for again when every
    string is different: a dict's put and a whole generation dropped at once cost about half
    of an OrderedDict's put, pop of the previous value and eviction one by one. ``get`` takes
    no lock (a dict's get is atomic under the GIL; a swap in between may turn a hit into a
    miss, which only decodes again); ``put`` does, for the weights and the swap.

    Picky: when, over a window of ``max_entries // 2`` misses, fewer than one lookup in nine
    was a hit, a value is kept only on its second sighting (its key's hash is remembered on
    the first, in a set of at most ``max_entries // 2`` hashes, emptied when full; two keys
    of one hash only make a value kept early). Strings whose every part differs then never
    pay for keeping and evicting parts no later string asks for; parts that repeat are kept
    from their second string on. The next window with hits makes it keep on first sight again.
    """

    __slots__ = (
        "_half_entries",
        "_half_weight",
        "_hits",
        "_lock",
        "_misses",
        "_old",
        "_old_weight",
        "_picky",
        "_seen",
        "_window_hits",
        "_window_misses",
        "_young",
        "_young_weight",
        "max_entry_weight",
    )

    def __init__(self, max_entries: int, max_weight: int, max_entry_weight: int) -> None:
        self._half_entries = max(1, max_entries // 2)
        self._half_weight = max_weight // 2
        self.max_entry_weight = min(max_entry_weight, self._half_weight)
        self._young: dict[Any, tuple[Any, int]] = {}
        self._old: dict[Any, tuple[Any, int]] = {}
        self._young_weight = self._old_weight = 0
        self._hits = self._misses = 0
        self._lock = threading.Lock()
        self._picky = False
        self._seen: set[int] = set()
        self._window_hits = self._window_misses = 0

    def get(self, key: Any) -> Any:
        """The value, or None."""
        entry = self._young.get(key)
        if entry is None:
            entry = self._old.get(key)
            if entry is None:
                self._misses += 1
                misses = self._window_misses = self._window_misses + 1
                if misses >= self._half_entries:
                    self._judge()
                return None
            self._admit(key, *entry)
        self._hits += 1
        self._window_hits += 1
        return entry[0]

    def _judge(self) -> None:
        """At the end of a window of misses: picky (parts kept on their second sighting)
        while fewer than one lookup in nine was a hit."""
        self._picky = self._window_hits * 8 < self._window_misses
        self._window_hits = self._window_misses = 0

    def put(self, key: Any, value: Any, weight: int) -> None:
        if weight > self.max_entry_weight:
            return
        if self._picky:
            seen, sighting = self._seen, hash(key)  # a hash: small whatever the key
            if sighting not in seen:
                if len(seen) >= self._half_entries:
                    seen.clear()
                seen.add(sighting)
                return
        self._admit(key, value, weight)

    def _admit(self, key: Any, value: Any, weight: int) -> None:
        with self._lock:
            young = self._young
            if key in young:
                return  # equal values (decoded from the same key): the one kept will do
            if len(young) >= self._half_entries or self._young_weight + weight > self._half_weight:
                self._old, self._old_weight = young, self._young_weight
                young = self._young = {}
                self._young_weight = 0
            young[key] = (value, weight)
            self._young_weight += weight

    def clear(self) -> None:
        with self._lock:
            self._young, self._old = {}, {}
            self._young_weight = self._old_weight = self._hits = self._misses = 0
        self.start_judging()

    def start_judging(self) -> None:
        """Not picky, no key seen, a new window."""
        self._seen = set()
        self._picky = False
        self._window_hits = self._window_misses = 0

    def info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(
                self._hits,
                self._misses,
                len(self._young) + len(self._old),
                self._young_weight + self._old_weight,
            )


def decode_cache_info() -> CacheInfo:
    """Hits and misses since the last clear, and what the cache holds now."""
    return _DECODED.info()


def decode_cache_clear() -> None:
    """Empty :func:`decode`'s cache (benchmarks and tests start cold with it). The shared-part
    caches keep their parts but start judging afresh (``_Generations``: not picky), as after
    a cold start; ``_clear_shared`` empties them."""
    _DECODED.clear()
    for cache in (_SHARED_CORES, _SHARED_RESTRICTIONS, _SHARED_SEGMENTS):
        cache.start_judging()


# The names functools.lru_cache gives, for callers used to them.
decode.cache_info = decode_cache_info  # type: ignore[attr-defined]
decode.cache_clear = decode_cache_clear  # type: ignore[attr-defined]


def _weight(tc_string: str, data: TCData) -> int:
    """Roughly the memory an entry holds, in ~40-byte units (one vendor id of a frozenset):
    vendor sets are charged as if built, which iterating or hashing them does."""
    weight = (
        82  # 50 for the rest, 8 per set
        + len(tc_string) // 40
        + len(data.vendor_consents)
        + len(data.vendor_legitimate_interests)
        + len(data.disclosed_vendors)
        + len(data.allowed_vendors)
    )
    for restriction in data.publisher_restrictions:
        weight += len(restriction.vendors) + 8
    return weight


# --- text to bits --------------------------------------------------------------------------

# Every character of a string that can be decoded at all ("=" only as padding, "." between
# segments, both checked afterwards).
_ALPHABET = re.compile(r"[A-Za-z0-9_\-.=]+")
# Web-safe to standard base64 for binascii, as a bytes table (bytes.translate is C-fast).
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
# The 6-bit value of each web-safe base64 character.
_BASE64_VALUES = {
    character: value
    for value, character in enumerate(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
}
# "0"/"1" characters to 0/1 bytes, the selectors itertools.compress wants.
_TO_FLAGS = bytes.maketrans(b"01", b"\x00\x01")


def _split(tc_string: str) -> list[str]:
    """The segments' texts, with characters and padding checked and padding removed."""
    text = tc_string.strip()
    if not text:
        raise TCStringError("empty", "The TC string is empty.")
    if _ALPHABET.fullmatch(text) is None:
        bad = next(c for c in text if not (c.isascii() and (c.isalnum() or c in "-_.=")))
        raise TCStringError(
            "bad_characters",
            f"The TC string has the character {bad!r}: only web-safe base64 "
            "(A–Z a–z 0–9 - _) and '.' between segments may appear.",
        )
    segments = text.split(".")
    for index, segment in enumerate(segments):
        if "=" in segment:
            segment = segments[index] = _strip_padding(segment, index)
        if not segment:
            raise TCStringError("empty_segment", f"Segment {index + 1} of the TC string is empty.")
        if len(segment) % 4 == 1:
            raise TCStringError(
                "bad_padding",
                f"Segment {index + 1} of the TC string has {len(segment)} characters, which no "
                "base64 encoding produces (one more or one fewer would do).",
            )
    return segments


def _strip_padding(segment: str, index: int) -> str:
    """Accept base64 "=" padding only where base64 puts it."""
    data = segment.rstrip("=")
    padding = len(segment) - len(data)
    if "=" in data or padding > 2 or len(segment) % 4 or len(data) % 4 != (4 - padding) % 4:
        raise TCStringError(
            "bad_padding",
            f"Segment {index + 1} of the TC string has misplaced '=' padding "
            "(TC strings are unpadded web-safe base64).",
        )
    return data


def _bits(segment: str) -> str:
    """The segment's 6 bits per character as a "0"/"1" str (its length is checked already)."""
    # Pad with "A" (six 0 bits) to whole base64 quanta, decode all bits, drop the padding's:
    # unlike "=" padding, this keeps the last character's bits that end past a byte boundary.
    padding = -len(segment) % 4
    data = binascii.a2b_base64((segment + "AA"[:padding]).encode("ascii").translate(_TO_STANDARD))
    size = 6 * len(segment)
    value = int.from_bytes(data, "big") >> (6 * padding)
    return bin(value | (1 << size))[3:]  # "0b1" + exactly size bits


class _Bits:
    """A run of bits as a "0"/"1" str, read left to right field by field. ``offset`` is where
    it starts in its segment, for messages."""

    __slots__ = ("bits", "name", "offset", "pos", "size")

    def __init__(self, bits: str, name: str, offset: int = 0) -> None:
        self.bits = bits
        self.size = len(bits)
        self.pos = 0
        self.name = name
        self.offset = offset

    def need(self, width: int, field: str) -> None:
        if self.pos + width > self.size:
            raise TCStringError(
                "truncated",
                f"The TC string is truncated: the {self.name} segment's {field} needs {width} "
                f"bits at bit {self.offset + self.pos}, but only {self.size - self.pos} remain.",
            )

    def read_int(self, width: int, field: str) -> int:
        pos = self.pos
        end = pos + width
        if end > self.size:
            self.need(width, field)
        self.pos = end
        return int(self.bits[pos:end], 2)

    def read_bits(self, width: int, field: str) -> str:
        """The next ``width`` bits as a "0"/"1" str."""
        pos = self.pos
        end = pos + width
        if end > self.size:
            self.need(width, field)
        self.pos = end
        return self.bits[pos:end]


# --- sets of ids, and the parts shared between strings ------------------------------------

# Shared id objects: compress(_IDS, flags) yields the ids of the set bits without creating an
# int per bit, and every decoded set shares the same int objects. Grown on demand up to 65,535.
_IDS: tuple[int, ...] = tuple(range(1, 4097))
_MAX_ID = 65_535
_EMPTY: frozenset[int] = frozenset()


def _ids(count: int) -> tuple[int, ...]:
    """The shared ids 1..count (count ≤ 65,535)."""
    global _IDS
    if count > len(_IDS):
        _IDS = tuple(range(1, _MAX_ID + 1))  # once per process, ~2.5 MB, only if ever needed
    return _IDS


# Strings of a site's visitors who made the same choices differ only in their Created and
# LastUpdated times; the site's publisher restrictions and disclosed vendors are the same for
# all its visitors. Such parts are decoded once and shared, keyed by their exact bits or text:
# the rest of the core after the times, vendor sets, restriction sections and segments. Only
# parts of at most _SHARED_MAX_BITS bits and _SHARED_MAX_IDS ids are kept (never larger in
# practice), in caches bounded by entries (and ids): ~40 MB at worst, a few MB in practice.
# Plain vendor sets use functools.lru_cache (their count is charged before they are built);
# the composite parts, whose count is known only once read, use _Generations (two plain
# dicts, picky when nearly every lookup misses) via _shared and the fast path.
_SHARED_MAX_BITS = 4_096
_SHARED_MAX_IDS = 2_048
_SHARED_CORES = _Generations(256, 262_144, _SHARED_MAX_IDS)
_SHARED_RESTRICTIONS = _Generations(128, 131_072, _SHARED_MAX_IDS)
_SHARED_SEGMENTS = _Generations(128, 131_072, _SHARED_MAX_IDS)


class _Budget:
    """The vendor ids one decode has named. Every set is charged before it is built, so a
    string asking for too many is refused before the work; a part taken from a shared cache
    is charged what it holds."""

    __slots__ = ("used",)

    def __init__(self) -> None:
        self.used = 0

    def spend(self, count: int) -> None:
        self.used += count
        if self.used > MAX_VENDOR_IDS:
            raise _too_many_vendor_ids()


def _too_many_vendor_ids() -> TCStringError:
    return TCStringError(
        "too_many_vendor_ids",
        f"The TC string names more than {MAX_VENDOR_IDS:,} vendor ids in all "
        "(ranges can name many ids in a few bits; no real string needs that many).",
    )


def _shared(cache: _Generations, key: Any, budget: _Budget, read: Any, *args: Any) -> Any:
    """``read(*args, budget)``, or the value a decode of the same ``key`` kept."""
    hit = cache.get(key)
    if hit is not None:
        value, vendor_ids = hit
        budget.spend(vendor_ids)
        return value
    before = budget.used
    value = read(*args, budget)
    vendor_ids = budget.used - before
    cache.put(key, (value, vendor_ids), vendor_ids)
    return value


class IdSet(AbstractSet[int]):
    """An immutable set of vendor ids, held as its bitfield and turned into a frozenset only
    when hashed or combined. The bitfield is kept as the string encoded it: an int of
    ``width`` bits whose most significant bit is id 1 (what the decoder's fast path reads),
    a str of "0"/"1" — character ``i - 1`` for id ``i`` (``IdSet("0110")``, and what
    pickling writes) — or, for range entries, the merged ranges.

    Building the frozensets of a large CMP's string (~400 ids) took longer than all the
    parsing. Membership (``vendor_id in ids``: what consent decisions ask), ``len``, equality
    with another IdSet and iteration (ascending, as ``to_dict`` wants) read the bits; hashing,
    comparing with a frozenset and set operations build the frozenset once (kept, so the next
    use is free) and behave as a frozenset's; set operations return frozensets.
    An IdSet equals the frozenset of its ids and hashes alike; two IdSets are equal when their
    ids are, however the string encoded them (a bitfield may end in "0"s, a range never).
    """

    __slots__ = ("_bits", "_count", "_frozen", "_int", "_ranges", "_width")

    def __init__(self, bits: str = "") -> None:
        self._bits: str | None = bits
        self._count = bits.count("1")
        self._frozen: frozenset[int] | None = None
        self._int: int | None = None
        self._width = 0  # of _int
        self._ranges: tuple[tuple[int, int], ...] | None = None

    @classmethod
    def _of_int(cls, value: int, width: int, count: int) -> IdSet:
        """The set of a bitfield of ``width`` bits read as an int (its first bit, id 1, the
        most significant) with ``count`` bits set: ``in`` tests a bit, and the "0"/"1" str is
        written only when the set is iterated, compared with a str bitfield or pickled."""
        ids = cls.__new__(cls)
        ids._bits = None
        ids._count = count
        ids._frozen = None
        ids._int = value
        ids._width = width
        ids._ranges = None
        return ids

    @classmethod
    def _of_ranges(cls, ranges: tuple[tuple[int, int], ...], count: int) -> IdSet:
        """The set of sorted, merged, inclusive ``ranges`` holding ``count`` ids: kept as the
        ranges (membership by bisection); the bitfield is written only when iterated,
        compared with a bitfield or pickled. Publisher restrictions are ranges, and most of
        them are only ever asked about one vendor."""
        ids = cls.__new__(cls)
        ids._bits = None
        ids._count = count
        ids._frozen = None
        ids._int = None
        ids._width = 0
        ids._ranges = ranges
        return ids

    def _bitfield(self) -> str:
        bits = self._bits
        if bits is None:  # two threads may both write it: equal values, either is kept
            if self._int is not None:
                bits = self._bits = bin(self._int | (1 << self._width))[3:]  # "0b1" + width
            else:
                pieces, next_id = [], 1
                for start, end in self._ranges:
                    pieces.append("0" * (start - next_id))
                    pieces.append("1" * (end - start + 1))
                    next_id = end + 1
                bits = self._bits = "".join(pieces)
        return bits

    def _as_frozenset(self) -> frozenset[int]:
        ids = self._frozen
        if ids is None:  # two threads may both build it: equal values, either is kept
            ids = self._frozen = frozenset(self.__iter__())
        return ids

    def __contains__(self, item: object) -> bool:
        if type(item) is int:
            value = self._int
            if value is not None:  # bit width - item of the int is id item's
                width = self._width
                return 0 < item <= width and value >> (width - item) & 1 == 1
            ranges = self._ranges
            if ranges is not None:  # the last range starting at or before item holds it?
                index = bisect_right(ranges, (item, _MAX_ID + 1))
                return index > 0 and ranges[index - 1][1] >= item
            bits = self._bits
            return 0 < item <= len(bits) and bits[item - 1] == "1"
        return item in self._as_frozenset()  # 5.0, True, …: what a frozenset answers

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[int]:
        """The ids in ascending order, from the bits (no frozenset is built). compress()
        walks the flags in C and yields the shared id objects: measured faster than per-byte
        lookup tables, and no int is created per bit."""
        bits = self._bitfield()
        return compress(_ids(len(bits)), bits.encode("ascii").translate(_TO_FLAGS))

    def __eq__(self, other: object) -> bool:
        if type(other) is IdSet:
            if self._count != other._count:
                return False
            if self._int is not None and other._int is not None:
                # Bitfields equal but for trailing "0"s: equal once aligned to one width.
                mine, theirs = self._width, other._width
                if mine >= theirs:
                    return self._int == other._int << (mine - theirs)
                return self._int << (theirs - mine) == other._int
            if self._ranges is not None and other._ranges is not None:
                return self._ranges == other._ranges  # merged ranges: one spelling per set
            mine, theirs = self._bitfield(), other._bitfield()
            return mine == theirs or mine.rstrip("0") == theirs.rstrip("0")
        if isinstance(other, (frozenset, set)):
            return self._count == len(other) and self._as_frozenset() == other
        return AbstractSet.__eq__(self, other)

    def __hash__(self) -> int:
        return hash(self._as_frozenset())

    def __repr__(self) -> str:
        return f"IdSet({sorted(self._as_frozenset())!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (IdSet, (self._bitfield(),))

    @classmethod
    def _from_iterable(cls, iterable: Any) -> frozenset[int]:
        """What set operations (``&``, ``|``, ``-``, ``^``) return."""
        return frozenset(iterable)


_NO_IDS = IdSet()


@functools.lru_cache(maxsize=1_024)
def _small_set(bits: str) -> frozenset[int]:
    """The ids of the set bits of a bitfield of ≤ 64 bits ("0110…" → {2, 3}). Purposes and
    special features take few distinct values, so nearly every call is a cache hit."""
    return frozenset(compress(_IDS, bits.encode("ascii").translate(_TO_FLAGS)))


def _bits_to_set(bits: str) -> IdSet:
    """A bitfield's set: ``bits`` is a "0"/"1" str, bit 0 is id 1."""
    return IdSet(bits)


def _ranges_to_set(ranges: tuple[tuple[int, int], ...]) -> IdSet:
    """The ids of sorted, non-overlapping, non-adjacent, non-empty inclusive ranges."""
    return IdSet._of_ranges(ranges, sum(end - start + 1 for start, end in ranges))


def _bitfield_set(bits: str, budget: _Budget) -> IdSet:
    """A vendor bitfield's set (a "0"/"1" str, bit 0 is id 1), charged before it is built."""
    budget.spend(bits.count("1"))
    return _bits_to_set(bits)


def _range_set(ranges: list[tuple[int, int]], budget: _Budget) -> IdSet:
    """The ids of range entries, which may overlap and come in any order. They are merged and
    charged to the budget before any set is built, so repeating a range costs nothing."""
    if not ranges:
        return _NO_IDS
    if len(ranges) == 1:
        start, end = merged = ranges[0]
        budget.spend(end - start + 1)
        return _ranges_to_set((merged,))
    ranges.sort()
    merged = []
    low, high = ranges[0]
    count = 0
    for start, end in ranges:
        if start > high + 1:
            merged.append((low, high))
            count += high - low + 1
            low, high = start, end
        elif end > high:
            high = end
    merged.append((low, high))
    budget.spend(count + high - low + 1)
    return _ranges_to_set(tuple(merged))


# --- the core segment ----------------------------------------------------------------------

# Segment types: the first 3 bits of every segment but the core, whose type is implicit.
_CORE, _DISCLOSED, _ALLOWED, _PUBLISHER_TC = 0, 1, 2, 3
_SEGMENT_NAMES = {
    _CORE: "core",
    _DISCLOSED: "disclosed vendors",
    _ALLOWED: "allowed vendors",
    _PUBLISHER_TC: "publisher TC",
}

# The core segment's fixed part: (field, width) in order, 213 bits in all.
_CORE_FIELDS = (
    ("Version", 6),
    ("Created", 36),
    ("LastUpdated", 36),
    ("CmpId", 12),
    ("CmpVersion", 12),
    ("ConsentScreen", 6),
    ("ConsentLanguage", 12),
    ("VendorListVersion", 12),
    ("TcfPolicyVersion", 6),
    ("IsServiceSpecific", 1),
    ("UseNonStandardTexts", 1),
    ("SpecialFeatureOptIns", 12),
    ("PurposesConsent", 24),
    ("PurposesLITransparency", 24),
    ("PurposeOneTreatment", 1),
    ("PublisherCC", 12),
)
_CORE_FIXED_BITS = sum(width for _, width in _CORE_FIELDS)  # 213
_TIMES_END = 78  # Version (6 bits), Created (36), LastUpdated (36)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _read_core(bits: str, budget: _Budget) -> tuple[Any, ...]:
    """The core segment's values, in TCData's field order (up to publisher_restrictions)."""
    if len(bits) < _CORE_FIXED_BITS:
        core = _Bits(bits, "core")
        for field, width in _CORE_FIELDS:
            core.need(width, field)
            core.pos += width
    created = int(bits[6:42], 2)
    last_updated = int(bits[42:_TIMES_END], 2)
    created_at = _datetime(created)
    rest = bits[_TIMES_END:]
    if len(rest) > _SHARED_MAX_BITS:
        values = _read_core_rest(rest, budget)
    else:  # shared by the strings of visitors who made the same choices
        values = _shared(_SHARED_CORES, rest, budget, _read_core_rest, rest)
    return (
        2,  # version, checked by the caller
        created_at,
        created_at if last_updated == created else _datetime(last_updated),
        *values,
    )


def _read_core_rest(bits: str, budget: _Budget) -> tuple[Any, ...]:
    """The core's values after LastUpdated, from its bits after LastUpdated."""
    # The fixed fields are there (checked by _read_core): read by slices of one str rather than
    # a call per field, in the order of _CORE_FIELDS (so the first bad field is the one named).
    values = (
        int(bits[0:12], 2),  # CmpId
        int(bits[12:24], 2),  # CmpVersion
        int(bits[24:30], 2),  # ConsentScreen
        _letters(int(bits[30:42], 2), "ConsentLanguage", "bad_language"),
        int(bits[42:54], 2),  # VendorListVersion
        int(bits[54:60], 2),  # TcfPolicyVersion
        bits[60] == "1",  # IsServiceSpecific
        bits[61] == "1",  # UseNonStandardTexts
        _small_set(bits[62:74]),  # SpecialFeatureOptIns
        _small_set(bits[74:98]),  # PurposesConsent
        _small_set(bits[98:122]),  # PurposesLITransparency
        bits[122] == "1",  # PurposeOneTreatment
        _letters(int(bits[123:135], 2), "PublisherCC", "bad_country"),
    )
    core = _Bits(bits, "core", offset=_TIMES_END)
    core.pos = _CORE_FIXED_BITS - _TIMES_END
    values += (
        _vendor_section(core, budget, "VendorConsents"),
        _vendor_section(core, budget, "VendorLegitimateInterests"),
    )
    # The restrictions end the core: the bits left (with the encoder's padding) are theirs.
    rest, offset = core.bits[core.pos :], _TIMES_END + core.pos
    if len(rest) > _SHARED_MAX_BITS:
        restrictions = _read_restrictions(rest, offset, budget)
    else:  # a site's restrictions are the same for all its visitors
        restrictions = _shared(_SHARED_RESTRICTIONS, rest, budget, _read_restrictions, rest, offset)
    return (*values, restrictions)


def _datetime(deciseconds: int) -> datetime:
    # timedelta(days, seconds, microseconds): positional, as keywords cost twice the time.
    return _EPOCH + timedelta(0, 0, deciseconds * 100_000)


def _letters(value: int, field: str, code: str) -> str:
    """Two 6-bit letters, A = 0 … Z = 25."""
    first, second = value >> 6, value & 63
    if first > 25 or second > 25:
        raise TCStringError(
            code,
            f"The TC string's {field} holds letter numbers {first} and {second}; "
            "each must be 0–25 (A–Z).",
        )
    return _LETTERS[first] + _LETTERS[second]


def _vendor_section(section: _Bits, budget: _Budget, field: str) -> IdSet:
    """MaxVendorId (16 bits), IsRangeEncoding (1), then a bitfield of MaxVendorId bits or
    NumEntries (12) range entries."""
    bits, pos = section.bits, section.pos
    if pos + 17 <= section.size and bits[pos + 16] == "0":  # a whole bitfield: read in one go
        end = pos + 17 + int(bits[pos : pos + 16], 2)
        if end <= section.size:
            section.pos = end
            return _bitfield_set(bits[pos + 17 : end], budget)
    # Ranges, or too short: field by field (a truncation names the field it cuts).
    max_vendor_id = section.read_int(16, f"{field} MaxVendorId")
    if section.read_int(1, f"{field} IsRangeEncoding"):
        count = section.read_int(12, f"{field} NumEntries")
        return _range_set(_read_ranges(section, count, max_vendor_id, field), budget)
    return _bitfield_set(section.read_bits(max_vendor_id, f"{field} bitfield"), budget)


def _read_ranges(
    section: _Bits, count: int, max_vendor_id: int | None, field: str
) -> list[tuple[int, int]]:
    """``count`` range entries: IsARange (1 bit), StartOrOnlyVendorId (16), EndVendorId (16,
    only when IsARange). Ids must be ≥ 1 and, in vendor sections, ≤ MaxVendorId."""
    bits, size, pos = section.bits, section.size, section.pos
    ranges = []
    for _ in range(count):
        width = 33 if pos < size and bits[pos] == "1" else 17
        if pos + width > size:
            section.pos = pos
            section.need(width, f"{field} range entry")
        start = int(bits[pos + 1 : pos + 17], 2)
        end = int(bits[pos + 17 : pos + 33], 2) if width == 33 else start
        pos += width
        if end < start:
            raise TCStringError(
                "range_end_before_start",
                f"The TC string's {field} has a range {start}–{end} that ends before it starts.",
            )
        if start == 0 or (max_vendor_id is not None and end > max_vendor_id):
            limit = f"1–{max_vendor_id}" if max_vendor_id is not None else "1 or more"
            raise TCStringError(
                "bad_vendor_id",
                f"The TC string's {field} names vendor ids {start}–{end}; ids must be {limit}.",
            )
        ranges.append((start, end))
    section.pos = pos
    return ranges


def _read_restrictions(bits: str, offset: int, budget: _Budget) -> tuple[PublisherRestriction, ...]:
    """NumPubRestrictions (12 bits), then per restriction PurposeId (6), RestrictionType (2),
    NumEntries (12) and range entries. Entries repeating a (purpose, type) pair are merged;
    the result is sorted by both.

    A well-formed section is read in one pass of local variables (``_restriction_ranges``);
    anything it does not accept is read again field by field, which names the error."""
    by_key = _restriction_ranges(bits)
    if by_key is None:
        return _read_restrictions_checked(bits, offset, budget)
    if len(by_key) == 1:
        ((purpose_id, restriction_type), ranges), *_ = by_key.items()
        return (PublisherRestriction(purpose_id, restriction_type, _range_set(ranges, budget)),)
    return tuple(
        PublisherRestriction(purpose_id, restriction_type, _range_set(ranges, budget))
        for (purpose_id, restriction_type), ranges in sorted(by_key.items())
    )


def _restriction_ranges(bits: str) -> dict[tuple[int, int], list[tuple[int, int]]] | None:
    """The restrictions' range entries by (purpose, type), or None when the section is not
    well formed (truncated, a purpose 0, a vendor id 0, a range ending before its start):
    the checked reading then raises the precise error. Nothing is charged to the budget
    here; the sets are charged when built, in the same order as the checked reading."""
    size = len(bits)
    if size < 12:
        return None
    pos = 12
    by_key: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for _ in range(int(bits[:12], 2)):
        end_of_head = pos + 20
        if end_of_head > size:
            return None
        head = int(bits[pos:end_of_head], 2)
        pos = end_of_head
        if head < 16_384:  # PurposeId 0
            return None
        key = (head >> 14, (head >> 12) & 3)
        ranges = by_key.get(key)
        if ranges is None:
            ranges = by_key[key] = []
        for _ in range(head & 0xFFF):
            if pos + 17 > size:
                return None
            start = int(bits[pos + 1 : pos + 17], 2)
            if bits[pos] == "1":
                if pos + 33 > size:
                    return None
                end = int(bits[pos + 17 : pos + 33], 2)
                pos += 33
                if end < start:
                    return None
            else:
                end = start
                pos += 17
            if not start:
                return None
            ranges.append((start, end))
    return by_key


def _read_restrictions_checked(
    bits: str, offset: int, budget: _Budget
) -> tuple[PublisherRestriction, ...]:
    """``_read_restrictions`` field by field, each read checked: the first problem raises
    the error that names it."""
    section = _Bits(bits, "core", offset)
    count = section.read_int(12, "NumPubRestrictions")
    if not count:
        return ()
    by_key: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for _ in range(count):
        head = section.read_int(20, "PubRestrictionEntry")  # PurposeId, RestrictionType, count
        purpose_id, restriction_type, entries = head >> 14, (head >> 12) & 3, head & 0xFFF
        if purpose_id == 0:
            raise TCStringError(
                "bad_purpose_id",
                "The TC string has a publisher restriction for purpose 0; purposes start at 1.",
            )
        ranges = _read_ranges(section, entries, None, "PubRestrictionEntry")
        by_key.setdefault((purpose_id, restriction_type), []).extend(ranges)
    return tuple(
        PublisherRestriction(purpose_id, restriction_type, _range_set(ranges, budget))
        for (purpose_id, restriction_type), ranges in sorted(by_key.items())
    )


# --- the other segments --------------------------------------------------------------------

_NO_PUBLISHER_TC = (_EMPTY, _EMPTY, _EMPTY, _EMPTY)


def _read_optional_segment(text: str, budget: _Budget) -> Any:
    """The value of a segment after the core, of a known type: disclosed or allowed vendors
    (a set), or publisher TC (four sets)."""
    bits = _bits(text)
    segment_type = int(bits[:3], 2)
    segment = _Bits(bits, _SEGMENT_NAMES[segment_type])
    segment.pos = 3
    if segment_type == _PUBLISHER_TC:
        return _read_publisher_tc(segment)
    field = "DisclosedVendors" if segment_type == _DISCLOSED else "AllowedVendors"
    return _vendor_section(segment, budget, field)


def _read_publisher_tc(segment: _Bits) -> tuple[frozenset[int], ...]:
    """PubPurposesConsent (24 bits), PubPurposesLITransparency (24), NumCustomPurposes (6),
    CustomPurposesConsent and CustomPurposesLITransparency (NumCustomPurposes bits each)."""
    consents = _small_set(segment.read_bits(24, "PubPurposesConsent"))
    legitimate_interests = _small_set(segment.read_bits(24, "PubPurposesLITransparency"))
    custom = segment.read_int(6, "NumCustomPurposes")
    return (
        consents,
        legitimate_interests,
        _small_set(segment.read_bits(custom, "CustomPurposesConsent")),
        _small_set(segment.read_bits(custom, "CustomPurposesLITransparency")),
    )


# --- the fast path: a well-formed string read from one int ---------------------------------
#
# _decode_fast reads a segment's base64 once into one Python int and every field with a shift
# and a mask: no "0"/"1" str, no object per field, no message built. It accepts only what the
# checked reading above accepts and returns the same data (the differential tests compare
# them); on anything else — a field cut short, a letter or id out of range, a part too large
# to share — it returns None and the checked reading runs from the start, raising the error
# that names the field. Parts are shared through the same caches: cores and restrictions
# keyed by an int, their bits after a leading 1 (so that their count is part of the key),
# which no key of the checked reading (a str) can equal; segments keyed by their text, as
# the checked reading keys them, with equal values.

# Two letters (6 bits each, A = 0 … Z = 25) by their 12-bit value; absent when out of range.
_LETTER_PAIRS = {
    (first << 6) | second: _LETTERS[first] + _LETTERS[second]
    for first in range(26)
    for second in range(26)
}
_MASK_12, _MASK_24, _MASK_36 = (1 << 12) - 1, (1 << 24) - 1, (1 << 36) - 1


def _segment_int(text: str) -> int:
    """The segment's 6 bits per character as one int of ``6 * len(text)`` bits."""
    padding = -len(text) % 4
    data = binascii.a2b_base64((text + "AA"[:padding]).encode("ascii").translate(_TO_STANDARD))
    return int.from_bytes(data, "big") >> (6 * padding)


@functools.lru_cache(maxsize=4_096)
def _small_set_of(value: int, width: int) -> frozenset[int]:
    """The ids of a bitfield of ``width`` ≤ 64 bits read as an int (id 1 the most
    significant bit); few distinct values, so nearly every call is a cache hit."""
    return frozenset(id_ for id_ in range(1, width + 1) if value >> (width - id_) & 1)


@functools.lru_cache(maxsize=1_024)
def _core_fixed(bits: int) -> tuple[Any, ...] | None:
    """The core's 13 fixed fields after LastUpdated, from their 135 bits as an int; None when
    a letter is out of range. A site's strings share them but for a few versions."""
    language = _LETTER_PAIRS.get(bits >> 93 & _MASK_12)  # ConsentLanguage
    country = _LETTER_PAIRS.get(bits & _MASK_12)  # PublisherCC
    if language is None or country is None:
        return None
    return (
        bits >> 123,  # CmpId
        bits >> 111 & _MASK_12,  # CmpVersion
        bits >> 105 & 63,  # ConsentScreen
        language,
        bits >> 81 & _MASK_12,  # VendorListVersion
        bits >> 75 & 63,  # TcfPolicyVersion
        bits >> 74 & 1 == 1,  # IsServiceSpecific
        bits >> 73 & 1 == 1,  # UseNonStandardTexts
        _small_set_of(bits >> 61 & _MASK_12, 12),  # SpecialFeatureOptIns
        _small_set_of(bits >> 37 & _MASK_24, 24),  # PurposesConsent
        _small_set_of(bits >> 13 & _MASK_24, 24),  # PurposesLITransparency
        bits >> 12 & 1 == 1,  # PurposeOneTreatment
        country,
    )


# The slots' setters, in field order: setting them directly costs half of the generated
# __init__ of a frozen dataclass (an object.__setattr__ call by name per field).
_TCDATA_SETTERS = tuple(getattr(TCData, field.name).__set__ for field in fields(TCData))
_RESTRICTION_SETTERS = tuple(
    getattr(PublisherRestriction, field.name).__set__ for field in fields(PublisherRestriction)
)


def _new_tcdata(
    version: Any,
    created: Any,
    last_updated: Any,
    cmp_id: Any,
    cmp_version: Any,
    consent_screen: Any,
    consent_language: Any,
    vendor_list_version: Any,
    policy_version: Any,
    is_service_specific: Any,
    use_non_standard_texts: Any,
    special_feature_optins: Any,
    purpose_consents: Any,
    purpose_legitimate_interests: Any,
    purpose_one_treatment: Any,
    publisher_cc: Any,
    vendor_consents: Any,
    vendor_legitimate_interests: Any,
    publisher_restrictions: Any,
    disclosed_vendors: Any,
    allowed_vendors: Any,
    publisher_consents: Any,
    publisher_legitimate_interests: Any,
    custom_purpose_consents: Any,
    custom_purpose_legitimate_interests: Any,
) -> TCData:
    """``TCData(...)``, its fields set directly, one line each (a loop costs a third more)."""
    data = object.__new__(TCData)
    setters = _TCDATA_SETTERS
    setters[0](data, version)
    setters[1](data, created)
    setters[2](data, last_updated)
    setters[3](data, cmp_id)
    setters[4](data, cmp_version)
    setters[5](data, consent_screen)
    setters[6](data, consent_language)
    setters[7](data, vendor_list_version)
    setters[8](data, policy_version)
    setters[9](data, is_service_specific)
    setters[10](data, use_non_standard_texts)
    setters[11](data, special_feature_optins)
    setters[12](data, purpose_consents)
    setters[13](data, purpose_legitimate_interests)
    setters[14](data, purpose_one_treatment)
    setters[15](data, publisher_cc)
    setters[16](data, vendor_consents)
    setters[17](data, vendor_legitimate_interests)
    setters[18](data, publisher_restrictions)
    setters[19](data, disclosed_vendors)
    setters[20](data, allowed_vendors)
    setters[21](data, publisher_consents)
    setters[22](data, publisher_legitimate_interests)
    setters[23](data, custom_purpose_consents)
    setters[24](data, custom_purpose_legitimate_interests)
    return data


def _new_restriction(
    purpose_id: int, restriction_type: int, vendors: IdSet
) -> PublisherRestriction:
    """``PublisherRestriction(purpose_id, restriction_type, vendors)``, its fields set directly."""
    restriction = object.__new__(PublisherRestriction)
    set_purpose, set_type, set_vendors = _RESTRICTION_SETTERS
    set_purpose(restriction, purpose_id)
    set_type(restriction, restriction_type)
    set_vendors(restriction, vendors)
    return restriction


def _fast_ranges(
    value: int, size: int, pos: int, count: int, max_vendor_id: int
) -> tuple[list[tuple[int, int]], int] | None:
    """``count`` range entries at bit ``pos`` of ``value`` (``size`` bits), and the position
    after them; None when one is cut short, starts at 0, ends before its start or past
    ``max_vendor_id``."""
    ranges = []
    for _ in range(count):
        if pos >= size:
            return None
        if value >> (size - pos - 1) & 1:
            pos += 33
            if pos > size:
                return None
            entry = value >> (size - pos) & 0xFFFFFFFF
            start, end = entry >> 16 & 0xFFFF, entry & 0xFFFF
            if end < start:
                return None
        else:
            pos += 17
            if pos > size:
                return None
            start = end = value >> (size - pos) & 0xFFFF
        if not start or end > max_vendor_id:
            return None
        ranges.append((start, end))
    return ranges, pos


def _merged(ranges: list[tuple[int, int]]) -> tuple[tuple[tuple[int, int], ...], int]:
    """Range entries sorted and merged (as ``_range_set`` merges them), and their id count."""
    if len(ranges) == 1:
        start, end = ranges[0]
        return (ranges[0],), end - start + 1
    ranges.sort()
    merged = []
    low, high = ranges[0]
    count = 0
    for start, end in ranges:
        if start > high + 1:
            merged.append((low, high))
            count += high - low + 1
            low, high = start, end
        elif end > high:
            high = end
    merged.append((low, high))
    return tuple(merged), count + high - low + 1


def _fast_vendor_section(
    value: int, size: int, pos: int, used: int
) -> tuple[IdSet, int, int] | None:
    """The vendor section at bit ``pos``: (its set, the position after it, the ids used with
    it); None when the checked reading would raise."""
    end = pos + 17
    if end > size:
        return None
    head = value >> (size - end) & 0x1FFFF
    max_vendor_id = head >> 1
    if not head & 1:  # a bitfield of MaxVendorId bits
        pos, end = end, end + max_vendor_id
        if end > size:
            return None
        bits = value >> (size - end) & ((1 << max_vendor_id) - 1)
        count = bits.bit_count()
        used += count
        if used > MAX_VENDOR_IDS:
            raise _too_many_vendor_ids()
        return IdSet._of_int(bits, max_vendor_id, count), end, used
    pos = end + 12  # NumEntries
    if pos > size:
        return None
    read = _fast_ranges(value, size, pos, value >> (size - pos) & _MASK_12, max_vendor_id)
    if read is None:
        return None
    ranges, pos = read
    if not ranges:
        return _NO_IDS, pos, used
    merged, count = _merged(ranges)
    used += count
    if used > MAX_VENDOR_IDS:
        raise _too_many_vendor_ids()
    return IdSet._of_ranges(merged, count), pos, used


def _fast_shared(
    cache: _Generations, key: Any, used: int, read: Any, *args: Any
) -> tuple[Any, int] | None:
    """A part from ``cache``, its ids charged to ``used`` (the same budget as read afresh), or
    read with ``read(*args, used)`` and kept: (part, ids used so far), or None when the fast
    path does not take the string. The fast path's form of ``_shared``."""
    hit = cache.get(key)
    if hit is not None:
        part, vendor_ids = hit
        used += vendor_ids
        if used > MAX_VENDOR_IDS:
            raise _too_many_vendor_ids()
        return part, used
    fresh = read(*args, used)
    if fresh is None:
        return None
    part, after = fresh
    cache.put(key, (part, after - used), after - used)
    return part, after


def _fast_restrictions(value: int, size: int, used: int) -> tuple[Any, int] | None:
    """The publisher restrictions, all of ``value``'s ``size`` bits (see
    ``_read_restrictions``), and the ids used with them; None when the checked reading
    would raise. Range entries are read inline (a call per restriction costs more than its
    entries); those already sorted and apart — as encoders write them — need no merging."""
    if size < 12:
        return None
    pos = 12
    parts = []  # (PurposeId << 2 | RestrictionType, ranges, their ids or -1 to merge them)
    last_key = 0
    in_order = True
    for _ in range(value >> (size - 12)):
        pos += 20
        if pos > size:
            return None
        head = value >> (size - pos) & 0xFFFFF
        if head < 16_384:  # PurposeId 0
            return None
        key = head >> 12  # PurposeId (6 bits), RestrictionType (2): sorts as the pair does
        if key <= last_key:
            in_order = False
        last_key = key
        ranges = []
        count = 0
        high = -1
        for _ in range(head & 0xFFF):
            if pos >= size:
                return None
            if value >> (size - pos - 1) & 1:  # IsARange
                pos += 33
                if pos > size:
                    return None
                entry = value >> (size - pos) & 0xFFFFFFFF
                start, end = entry >> 16, entry & 0xFFFF
                if end < start:
                    return None
            else:
                pos += 17
                if pos > size:
                    return None
                start = end = value >> (size - pos) & 0xFFFF
            if not start:
                return None
            if count >= 0 and start > high + 1:
                count += end - start + 1
                high = end
            else:
                count = -1
            ranges.append((start, end))
        parts.append((key, ranges, count))
    if not in_order:  # pairs repeated or out of order: merged into one entry each, sorted
        by_key: dict[int, list[tuple[int, int]]] = {}
        for key, ranges, _ in parts:
            known = by_key.get(key)
            if known is None:
                by_key[key] = ranges
            else:
                known.extend(ranges)
        parts = [(key, by_key[key], -1) for key in sorted(by_key)]
    restrictions = []
    for key, ranges, count in parts:
        if ranges:
            if count < 0:
                merged, count = _merged(ranges)
            else:
                merged = tuple(ranges)
            used += count
            if used > MAX_VENDOR_IDS:
                raise _too_many_vendor_ids()
            vendors = IdSet._of_ranges(merged, count)
        else:
            vendors = _NO_IDS
        restrictions.append(_new_restriction(key >> 2, key & 3, vendors))
    return tuple(restrictions), used


def _fast_core_rest(value: int, size: int, used: int) -> tuple[tuple[Any, ...], int] | None:
    """The core's values after LastUpdated (see ``_read_core_rest``) from the whole core
    segment's ``size`` bits, and the ids used with them; None when the checked reading
    would raise."""
    fixed = _core_fixed(value >> (size - _CORE_FIXED_BITS) & ((1 << 135) - 1))
    if fixed is None:
        return None
    pos = _CORE_FIXED_BITS
    vendor_sets = []
    for _ in range(2):  # VendorConsents, VendorLegitimateInterests
        end = pos + 17
        head = value >> (size - end) & 0x1FFFF if end <= size else 1
        if not head & 1 and end + (head >> 1) <= size:  # a whole bitfield: read here
            width = head >> 1
            pos = end + width
            bits = value >> (size - pos) & ((1 << width) - 1)
            count = bits.bit_count()
            used += count
            if used > MAX_VENDOR_IDS:
                raise _too_many_vendor_ids()
            vendor_sets.append(IdSet._of_int(bits, width, count))
        else:  # ranges, or cut short
            section = _fast_vendor_section(value, size, pos, used)
            if section is None:
                return None
            vendors, pos, used = section
            vendor_sets.append(vendors)
    consents, legitimate_interests = vendor_sets
    width = size - pos  # the restrictions end the core: the bits left are theirs
    rest = value & ((1 << width) - 1)
    key = rest | (1 << width)  # the bits after a 1: their count is in the key
    read = _fast_shared(_SHARED_RESTRICTIONS, key, used, _fast_restrictions, rest, width)
    if read is None:
        return None
    restrictions, used = read
    return (*fixed, consents, legitimate_interests, restrictions), used


def _fast_segment(text: str, segment_type: int, used: int) -> tuple[Any, int] | None:
    """The value of a segment after the core (see ``_read_optional_segment``) and the ids
    used with it; None when the checked reading would raise."""
    size = 6 * len(text)
    value = _segment_int(text)
    if segment_type != _PUBLISHER_TC:
        section = _fast_vendor_section(value, size, 3, used)
        if section is None:
            return None
        return section[0], section[2]
    if size < 57:  # SegmentType (3 bits), two 24-bit fields, NumCustomPurposes (6)
        return None
    custom = value >> (size - 57) & 63
    end = 57 + 2 * custom
    if end > size:
        return None
    low = value >> (size - end)
    return (
        _small_set_of(low >> (2 * custom + 30) & _MASK_24, 24),
        _small_set_of(low >> (2 * custom + 6) & _MASK_24, 24),
        _small_set_of(low >> custom & ((1 << custom) - 1), custom),
        _small_set_of(low & ((1 << custom) - 1), custom),
    ), used


def _decode_fast(segments: list[str]) -> tuple[TCData, int] | None:
    """The string's data and the vendor ids it names; None for the checked reading to raise
    the error (or to read a string with parts too large to share). Raises only
    ``too_many_vendor_ids``: the budget is charged in the checked reading's order, so that
    reading would raise the same at the same part (raising here, rather than reading again,
    keeps the ids built within the budget)."""
    # The segments after the core: known types, each once, small enough to share — checked
    # before anything is built.
    optional = []
    seen = 0
    for text in segments[1:]:
        segment_type = _BASE64_VALUES[text[0]] >> 3  # the first 3 of the first char's 6 bits
        if not 0 < segment_type < 4 or seen >> segment_type & 1 or 6 * len(text) > _SHARED_MAX_BITS:
            return None
        seen |= 1 << segment_type
        optional.append((text, segment_type))

    text = segments[0]
    size = 6 * len(text)
    if size < _CORE_FIXED_BITS or size - _TIMES_END > _SHARED_MAX_BITS:
        return None
    value = _segment_int(text)
    if value >> (size - 6) != 2:  # Version (and no segment type where the core must be)
        return None
    times = value >> (size - _TIMES_END)
    created, last_updated = times >> 36 & _MASK_36, times & _MASK_36
    created_at = _EPOCH + timedelta(0, 0, created * 100_000)
    width = size - _TIMES_END
    key = value - ((times - 1) << width)  # the bits after LastUpdated, after a 1
    read = _fast_shared(_SHARED_CORES, key, 0, _fast_core_rest, value, size)
    if read is None:
        return None
    values, used = read

    disclosed = allowed = _NO_IDS
    publisher_tc = _NO_PUBLISHER_TC
    for text, segment_type in optional:
        read = _fast_shared(_SHARED_SEGMENTS, text, used, _fast_segment, text, segment_type)
        if read is None:
            return None
        segment, used = read
        if segment_type == _DISCLOSED:
            disclosed = segment
        elif segment_type == _ALLOWED:
            allowed = segment
        else:
            publisher_tc = segment
    data = _new_tcdata(
        2,
        created_at,
        created_at if last_updated == created else _EPOCH + timedelta(0, 0, last_updated * 100_000),
        *values,
        disclosed,
        allowed,
        *publisher_tc,
    )
    return data, used


# --- the whole string ----------------------------------------------------------------------


def _decode(tc_string: str) -> tuple[TCData, int]:
    """The string's data and its weight for the cache (see ``_weight``)."""
    segments = _split(tc_string)
    found = _decode_fast(segments)
    if found is None:
        data = _decode_checked(segments)
        return data, _weight(tc_string, data)
    # The ids charged are those of every vendor set: _weight's sum, without its calls.
    data, vendor_ids = found
    return data, 82 + len(tc_string) // 40 + vendor_ids + 8 * len(data.publisher_restrictions)


def _decode_checked(segments: list[str]) -> TCData:
    """The string's data read field by field, each read checked: the first problem raises
    the error that names it."""
    core_bits = _bits(segments[0])  # every segment has ≥ 2 characters, 12 bits
    first_type = int(core_bits[:3], 2)
    if first_type in (_DISCLOSED, _ALLOWED, _PUBLISHER_TC):
        raise TCStringError(
            "missing_core",
            f"The TC string starts with a {_SEGMENT_NAMES[first_type]} segment; the core "
            "segment must come first.",
        )
    version = int(core_bits[:6], 2)
    if version != 2:
        raise TCStringError(
            "unsupported_version",
            f"The TC string is version {version}; only version 2 (TCF 2.x) is supported.",
        )
    budget = _Budget()
    core = _read_core(core_bits, budget)

    optional: dict[int, Any] = {}
    for text in segments[1:]:
        segment_type = _BASE64_VALUES[text[0]] >> 3  # the first 3 of the first char's 6 bits
        if segment_type not in _SEGMENT_NAMES:
            raise TCStringError(
                "unknown_segment_type",
                f"The TC string has a segment of type {segment_type} ({text[:12]}…); known "
                "types are 1 (disclosed vendors), 2 (allowed vendors) and 3 (publisher TC).",
            )
        if segment_type == _CORE or segment_type in optional:
            raise TCStringError(
                "duplicate_segment",
                f"The TC string has more than one {_SEGMENT_NAMES[segment_type]} segment.",
            )
        if 6 * len(text) > _SHARED_MAX_BITS:
            optional[segment_type] = _read_optional_segment(text, budget)
        else:  # a site's disclosed vendors and publisher TC choices repeat across visitors
            optional[segment_type] = _shared(
                _SHARED_SEGMENTS, text, budget, _read_optional_segment, text
            )
    # Positional: TCData(**fields) costs twice as much for 25 frozen fields.
    return TCData(
        *core,
        optional.get(_DISCLOSED, _NO_IDS),
        optional.get(_ALLOWED, _NO_IDS),
        *optional.get(_PUBLISHER_TC, _NO_PUBLISHER_TC),
    )


def _clear_shared() -> None:
    """Empty the caches of shared parts (benchmarks start cold with them)."""
    for cached in (_small_set, _small_set_of, _core_fixed):
        cached.cache_clear()
    for cache in (_SHARED_CORES, _SHARED_RESTRICTIONS, _SHARED_SEGMENTS):
        cache.clear()
