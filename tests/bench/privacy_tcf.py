"""TC string decoding (privacy/tcf.py): distinct strings with the cache cold, and cache hits.

Needs no Django and no database::

    .venv/bin/python -c "from tests.bench.privacy_tcf import measure; print(measure())"

The strings come from the independent test encoder (tests/privacy/tcf_encoder.py), shaped like
a service-specific string of a large CMP: a 600-vendor consent bitfield (~300 consents), a
600-vendor legitimate interest bitfield (~90), two publisher restrictions with ranges and a
publisher TC segment with custom purposes (~280 characters).

Two kinds of "distinct":

- every vendor set different: each string draws its own vendors (the worst case for decoding);
- shared vendor choices: the strings differ in their timestamps and CMP version only, as the
  strings of a site's visitors who all pressed "accept all" do (the common case). Their
  vendor sets, restrictions and publisher TC segment are decoded once and shared.

Vendor sets are :class:`privacy.tcf.IdSet`: membership and ``len`` read the bitfield, and the
frozenset is built only when a set is iterated or hashed; the "decode + to_dict" row shows the
cost with every set built.
"""

import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from privacy import tcf
from tests.privacy import tcf_encoder as enc
from tests.privacy.tcf_encoder import encode

DISTINCT = 5_000
RUNS = 3
HOT_SET = 1_000
HOT_ROUNDS = 20
TARGET = 50_000
START = datetime(2026, 1, 5, 8, tzinfo=UTC)


def realistic_string(number: int, *, shared_choices: bool) -> str:
    """One string of the benchmark's shape; ``number`` makes it distinct."""
    choices = random.Random(0 if shared_choices else number)
    created = START + timedelta(seconds=number * 7.3)
    return encode(
        created=created,
        last_updated=created + timedelta(minutes=2),
        cmp_id=300,
        cmp_version=1 + number % 40,
        consent_screen=2,
        consent_language="FR",
        vendor_list_version=160,
        policy_version=5,
        is_service_specific=True,
        special_feature_optins={1},
        purpose_consents={1, 2, 3, 4, 7, 9, 10},
        purpose_legitimate_interests={2, 7, 8, 9, 10, 11},
        publisher_cc="FR",
        vendor_consents={v for v in range(1, 601) if choices.random() < 0.5},
        vendor_legitimate_interests={v for v in range(1, 601) if choices.random() < 0.15},
        publisher_restrictions=[
            (2, 0, set(range(10, 40)) | {choices.randint(41, 600)}),
            (7, 1, {choices.randint(1, 600), choices.randint(1, 600)}),
        ],
        publisher_consents={1, 2, 3},
        publisher_legitimate_interests={2, 7},
        custom_purpose_consents={1, 3},
        custom_purpose_legitimate_interests={2},
        vendor_encoding="bitfield",
    )


def _cold() -> None:
    tcf.decode_cache_clear()
    tcf._clear_shared()


def _decode_all(
    strings: list[str], prepare: Callable[[], None]
) -> tuple[float, list[float], float]:
    """(decodes per second, latencies, decodes per second of CPU time) of one pass over
    ``strings``. The CPU-time rate (``time.process_time``) is the steadier one on a shared
    machine: time spent waiting for a core is not counted."""
    prepare()
    latencies = []
    cpu_started = time.process_time()
    started = time.perf_counter()
    for tc_string in strings:
        begun = time.perf_counter()
        tcf.decode(tc_string)
        latencies.append(time.perf_counter() - begun)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return len(strings) / elapsed, latencies, len(strings) / max(cpu, 1e-9)


def _median_run(
    strings: list[str], prepare: Callable[[], None]
) -> tuple[float, list[float], float]:
    runs = sorted((_decode_all(strings, prepare) for _ in range(RUNS)), key=lambda run: run[0])
    return runs[len(runs) // 2]


def _micros(latencies: list[float], pct: int) -> str:
    ordered = sorted(latencies)
    return f"{ordered[min(len(ordered) - 1, len(ordered) * pct // 100)] * 1e6:,.0f}"


def _distinct_row(label: str, strings: list[str]) -> tuple[str, str, str]:
    per_second, latencies, cpu_per_second = _median_run(strings, _cold)
    verdict = "meets" if per_second >= TARGET else "below"
    return (
        label,
        f"{per_second:,.0f} decodes/s",
        f"{len(strings):,} distinct strings of ~{len(strings[0])} chars, decode cache cold, "
        f"median of {RUNS} runs; p50 {_micros(latencies, 50)} µs, p99 {_micros(latencies, 99)} µs; "
        f"CPU time {cpu_per_second:,.0f} decodes/s ({1e6 / cpu_per_second:,.1f} µs each); "
        f"{verdict} the {TARGET:,}/s target",
    )


def _built_row(strings: list[str]) -> tuple[str, str, str]:
    """Decoding then building every set (``to_dict``), as the consent tester page does: vendor
    sets are built only when iterated, so the rows above do not pay for them."""
    _cold()
    started = time.perf_counter()
    for tc_string in strings:
        tcf.decode(tc_string).to_dict()
    per_second = len(strings) / (time.perf_counter() - started)
    return (
        "TCF decode + to_dict, every vendor set different",
        f"{per_second:,.0f} decodes/s",
        f"{len(strings):,} distinct strings, every set built (one run; not a target)",
    )


def _cached_row(strings: list[str]) -> tuple[str, str, str]:
    hot = strings[:HOT_SET] * HOT_ROUNDS

    def warm() -> None:
        _cold()
        for tc_string in strings[:HOT_SET]:
            tcf.decode(tc_string)

    per_second, latencies, _ = _median_run(hot, warm)
    return (
        "TCF decode, cache hits",
        f"{per_second:,.0f} decodes/s",
        f"{HOT_SET:,} strings decoded {HOT_ROUNDS} times each from the cache; "
        f"p50 {_micros(latencies, 50)} µs, p99 {_micros(latencies, 99)} µs",
    )


def _median_ms(tc_string: str) -> tuple[float, str]:
    """(median milliseconds of 5 cold decodes, the outcome: "ok" or the error code)."""
    timings, outcome = [], "ok"
    for _ in range(5):
        _cold()
        started = time.perf_counter()
        try:
            tcf.decode(tc_string)
        except tcf.TCStringError as error:
            outcome = error.code
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1e3, outcome


def _adversarial_rows() -> list[tuple[str, str, str]]:
    full = enc.uint(65_535, 16) + "1" + enc.range_entries([(1, 65_535)])
    # The vendor consent section as 4,095 range entries (NumEntries' maximum), each naming
    # vendors 1–65,535: legal, and one set of 65,535 ids.
    repeated = enc.to_base64url(
        enc.core_fixed_bits(created=START)
        + enc.uint(65_535, 16)
        + "1"
        + enc.range_entries([(1, 65_535)] * 4095)
        + enc.vendor_section(())
        + enc.uint(0, 12)
    )
    # Five full ranges (consents, legitimate interests, two restrictions, disclosed vendors).
    restriction = enc.uint(0, 2) + enc.range_entries([(1, 65_535)])
    greedy = ".".join(
        (
            enc.to_base64url(
                enc.core_fixed_bits(created=START)
                + full
                + full
                + enc.uint(2, 12)
                + enc.uint(1, 6)
                + restriction
                + enc.uint(2, 6)
                + restriction
            ),
            enc.to_base64url(enc.segment_bits(enc.DISCLOSED_VENDORS, full)),
        )
    )
    repeated_ms, repeated_outcome = _median_ms(repeated)
    greedy_ms, greedy_outcome = _median_ms(greedy)
    return [
        (
            "TCF decode, 4,095 ranges of vendors 1–65,535",
            f"{repeated_ms:,.1f} ms per decode",
            f"{repeated_outcome}: a {len(repeated) / 1024:,.0f} KB string, median of 5; ranges "
            "are merged before the set is built; 65,535 ids, too large to cache",
        ),
        (
            "TCF decode, 5 full ranges in one string",
            f"{greedy_ms:,.1f} ms per refusal",
            f"{greedy_outcome}: {len(greedy)} characters asking for 327,675 ids, median of 5; "
            f"refused once the {tcf.MAX_VENDOR_IDS:,}-id budget is spent, before building more",
        ),
    ]


def measure() -> list[tuple[str, str, str]]:
    """Rows of (figure, result, check)."""
    distinct = [realistic_string(n, shared_choices=False) for n in range(DISTINCT)]
    shared = [realistic_string(n, shared_choices=True) for n in range(DISTINCT)]
    return [
        _distinct_row("TCF decode, distinct strings, every vendor set different", distinct),
        _distinct_row("TCF decode, distinct strings, shared vendor choices", shared),
        _built_row(distinct),
        _cached_row(distinct),
        *_adversarial_rows(),
    ]


if __name__ == "__main__":
    for row in measure():
        print("  ".join(row))
