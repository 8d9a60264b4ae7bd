"""``canonical_json`` is RFC 8785 (JCS) on its domain, proven against the reference package."""

import datetime as dt

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from audit.canonical import MAX_SAFE_INTEGER, canonical_json, rfc3339
from audit.exceptions import AuditPayloadError

# Characters that make canonicalisation interesting, mixed into otherwise arbitrary text:
# escapes, controls, DEL, line/paragraph separators, a BMP character above the surrogate
# block and astral ones (which sort differently by UTF-16 code unit than by code point).
TRICKY = ['"', "\\", "/", "\b", "\f", "\n", "\r", "\t", "\x00", "\x1f", "\x7f", "\u2028"]
TRICKY += ["\u2029", "é", "€", "\ufeff", "\ue000", "\uffff", "\U00010000", "😀", "\U0010ffff"]

text = st.text(
    alphabet=st.one_of(st.characters(exclude_categories=["Cs"]), st.sampled_from(TRICKY))
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER),
    st.sampled_from([0, -1, MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]),
    text,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(text, children, max_size=6),
    ),
    max_leaves=30,
)


@given(json_values)
def test_canonical_json_is_rfc8785(value):
    assert canonical_json(value) == rfc8785.dumps(value)


@given(st.dictionaries(text, st.integers(0, 9), min_size=2, max_size=12))
def test_object_members_are_sorted_by_utf16_code_units(value):
    assert canonical_json(value) == rfc8785.dumps(value)


def test_astral_keys_sort_before_high_bmp_keys():
    # By code point U+E000 < U+1F600; by UTF-16 code unit 0xD83D < 0xE000.
    assert canonical_json({"\ue000": 1, "😀": 2}) == '{"😀":2,"\ue000":1}'.encode()


def test_output_is_compact_utf8_with_minimal_escapes():
    value = {"b": [1, True, None], "a": 'é"\n\x01'}

    assert canonical_json(value) == b'{"a":"\xc3\xa9\\"\\n\\u0001","b":[1,true,null]}'


def test_tuples_are_lists():
    assert canonical_json({"a": (1, 2)}) == b'{"a":[1,2]}'


def test_aware_datetimes_become_rfc3339_utc():
    moment = dt.datetime(2026, 11, 23, 14, 1, 2, 123456, tzinfo=dt.timezone(dt.timedelta(hours=1)))

    assert canonical_json({"at": moment}) == b'{"at":"2026-11-23T13:01:02.123456Z"}'
    assert rfc3339(moment) == "2026-11-23T13:01:02.123456Z"


@pytest.mark.parametrize(
    "value",
    [
        1.0,
        {"amount": 0.1},
        float("inf"),
        2**53,
        -(2**53),
        [2**64],
        "\ud800",
        {"key": "lone \udc00 surrogate"},
        {"\udfff": "in a key"},
        {1: "non-string key"},
        {None: "null key"},
        {("a",): "tuple key"},
        dt.datetime(2026, 1, 1),  # naive
        {"at": dt.datetime(2026, 1, 1, 12)},  # naive, nested
        b"bytes",
        {1, 2},
        object(),
    ],
    ids=repr,
)
def test_values_outside_the_domain_are_refused(value):
    with pytest.raises(AuditPayloadError):
        canonical_json(value)
