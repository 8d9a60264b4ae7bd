"""privacy.pii throughput: identifiers normalised and hashed per second, one core.

No Django and no database: ``python -m tests.bench.privacy_pii`` prints the table, and
``measure()`` returns its rows as (label, figure, notes) for whoever collects figures.

What is measured is ``pii.hashed`` (normalise + SHA-256), one call per identifier, in one
thread; the figure is the best of five runs, timed in CPU time so that a run which waited
while other processes held the CPU does not look slower. Inputs are generated with a fixed
seed and written the way forms and CRMs hand them over (mixed case, spaces, punctuation,
national phone numbers), with about 1% that cannot be used and are refused (a refusal costs
time too, so it is counted).

- **distinct**: every identifier in the run is different. This is the honest cold figure.
- **warm**: the identifiers of 1,000 active visitors, drawn again and again in the same mix
  (as their events arrive), after one untimed pass. Since 2026-12-06 no process cache holds
  raw identifiers, so warm equals distinct (ingestion hashes a visitor's repeats once per
  request: ``RequestMemo.pii``).

Mixes (share of identifiers):

- ``realistic`` (e-mail heavy, what a shop's purchase and lead events carry): em 30%,
  external_id 25%, ph 10%, fn 8%, ln 8%, ct 5%, st 4%, zp 4%, country 4%, db 1%, ge 1%.
- ``uniform``: all eleven fields equally (1/11 each, so 9% phones).
- ``phones``: phone numbers only, half written nationally with a default region.
"""

from __future__ import annotations

import dataclasses
import os
import random
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from privacy import pii

TARGET_PER_SECOND = 200_000
DISTINCT_IDS = 50_000
DISTINCT_PHONES = 10_000
ACTIVE_VISITORS = 1_000
WARM_LOOKUPS = 100_000
RUNS = 5
SEED = 20261123

REALISTIC_MIX = (
    ("em", 30),
    ("external_id", 25),
    ("ph", 10),
    ("fn", 8),
    ("ln", 8),
    ("ct", 5),
    ("st", 4),
    ("zp", 4),
    ("country", 4),
    ("db", 1),
    ("ge", 1),
)
UNIFORM_MIX = tuple((field, 1) for field in pii.FIELDS)

# (field, value, default_region)
Identifier = tuple[str, str, str | None]

_SYLLABLES = (
    "an", "ber", "ca", "da", "el", "fa", "go", "han", "is", "jo", "ka", "li", "ma", "no", "ol",
    "pe", "qui", "ra", "so", "ta", "ul", "va", "wen", "xi", "yo", "zu", "é", "ö", "ñ", "ça", "ß",
)  # fmt: skip
_FIRST = ("Mary", "John", "Anne-Marie", "José", "Zoë", "O'Brien", "Jean", "Ali", "Li", "Björn")
_DOMAINS = ("gmail.com", "Example.COM", "googlemail.com", "web.de", "yahoo.fr", "outlook.com")
_US_STATES = ("California", "New York", "TX", "Washington", "florida", "New Hampshire")
_REGIONS = ("Île-de-France", "Bavaria", "Ontario", "Catalonia", "Lombardy", "Noord-Holland")
_COUNTRIES = (
    "US", "us", "United States", "USA", "Germany", "DE", "deu", "France", "fr", "United Kingdom",
    "UK", "gb", "Spain", "es", "Italy", "Netherlands", "nl", "Canada", "ca", "Australia",
    "Brazil", "br", "Japan", "jp", "India", "in", "Poland", "pl", "Sweden", "se",
)  # fmt: skip
_GENDERS = ("f", "m", "F", "M", "female", "male", "Female")


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(syllables))


def _phone(rng: random.Random) -> tuple[str, str | None]:
    digits = "".join(rng.choice(string.digits) for _ in range(7))
    area = rng.randint(201, 989)
    style = rng.randrange(8)
    if style == 0:
        return f"+1 ({area}) {digits[:3]}-{digits[3:]}", None
    if style == 1:
        return f"({area}) {digits[:3]}-{digits[3:]}", "US"
    if style == 2:
        return f"+44 7{rng.randint(100, 999)} {digits[:6]}", None
    if style == 3:
        return f"07{rng.randint(100, 999)} {digits[:6]}", "GB"
    if style == 4:
        return f"0049 151 {digits}{rng.randint(0, 9)}", None
    if style == 5:
        return f"0151 {digits}{rng.randint(0, 9)}", "DE"
    if style == 6:
        return f"+33 6 {digits[:2]} {digits[2:4]} {digits[4:6]} {rng.randint(10, 99)}", None
    return f"001-{area}-{digits[:3]}-{digits[3:]}", "US"  # "00": carries its own code


def _value(rng: random.Random, field: str, serial: int) -> tuple[str, str | None]:
    """One identifier as it arrives; ``serial`` makes it distinct where the field allows."""
    if rng.random() < 0.01:
        return _unusable(field, serial), "US"
    if field == "em":
        local = f"{rng.choice(_FIRST)}.{_word(rng, 2)}{serial}".replace("'", "")
        return f" {local}@{rng.choice(_DOMAINS)} ", None
    if field == "ph":
        return _phone(rng)
    if field == "fn":
        return f"{rng.choice(_FIRST)} {_word(rng, 2).title()}", None
    if field == "ln":
        return f"{_word(rng, 3).title()}-{_word(rng, 2)}", None
    if field == "ct":
        return f"{_word(rng, 2).title()} {_word(rng, 2).title()}", None
    if field == "st":
        pick = rng.choice(_US_STATES + _REGIONS)
        return (pick if rng.random() < 0.5 else f"{pick} {_word(rng, 2)}"), None
    if field == "zp":
        if rng.random() < 0.5:
            return f"{rng.randint(10000, 99999)}-{rng.randint(1000, 9999)}", None
        return f"SW{rng.randint(1, 20)} {rng.randint(1, 9)}{rng.choice('ABDEFG')}Z", None
    if field == "country":
        pick = rng.choice(_COUNTRIES)
        return f"{' ' * rng.randint(0, 3)}{pick}{' ' * rng.randint(0, 3)}", None
    if field == "external_id":
        return f"crm-{serial:08d}-{rng.randrange(16**6):06x}", None
    if field == "db":
        year, month, day = rng.randint(1930, 2008), rng.randint(1, 12), rng.randint(1, 28)
        return rng.choice((f"{year}-{month:02d}-{day:02d}", f"{month}/{day}/{year}")), None
    return rng.choice(_GENDERS), None


def _unusable(field: str, serial: int) -> str:
    """A value that must be refused, distinct per ``serial`` like the usable ones."""
    return {
        "em": f"no-at-sign-{serial}.example.com",
        "ph": f"n/a {serial}",
        "db": f"{1900 + serial % 100}-02-30",
        "ge": f"x{serial}",
        "country": f"Atlantis {serial}",
        "zp": "-" * (1 + serial % 5),
    }.get(field, "!" * (1 + serial % 7))


def _fields(rng: random.Random, mix: Sequence[tuple[str, int]], count: int) -> list[str]:
    names = [field for field, _ in mix]
    weights = [weight for _, weight in mix]
    return rng.choices(names, weights, k=count)


def distinct_identifiers(mix: Sequence[tuple[str, int]], count: int) -> list[Identifier]:
    """``count`` identifiers in ``mix``, no (field, value, region) twice."""
    rng = random.Random(SEED)
    seen: set[Identifier] = set()
    result: list[Identifier] = []
    for serial, field in enumerate(_fields(rng, mix, count * 2)):
        identifier = (field, *_value(rng, field, serial))
        if identifier not in seen:
            seen.add(identifier)
            result.append(identifier)
            if len(result) == count:
                break
    return result


def distinct_phones(count: int) -> list[Identifier]:
    return distinct_identifiers((("ph", 1),), count)


def warm_lookups(mix: Sequence[tuple[str, int]], visitors: int, count: int) -> list[Identifier]:
    """``count`` identifiers drawn from ``visitors`` fixed profiles, as their events arrive."""
    rng = random.Random(SEED + 1)
    profiles = [
        {field: (field, *_value(rng, field, serial)) for field in pii.FIELDS}
        for serial in range(visitors)
    ]
    return [rng.choice(profiles)[field] for field in _fields(rng, mix, count)]


def _run(identifiers: Sequence[Identifier], call: Callable[..., object]) -> tuple[float, int]:
    refused = 0
    # CPU time of this process: a run that waits while other processes hold the CPU (the
    # machine is shared) is not counted as slower.
    started = time.process_time()
    for field, value, region in identifiers:
        try:
            call(field, value, region)
        except pii.PIIValueError:
            refused += 1
    return time.process_time() - started, refused


@dataclass
class _Case:
    label: str
    identifiers: Sequence[Identifier]
    call: Callable[..., object]
    warm: bool
    notes: str
    seconds: list[float] = dataclasses.field(default_factory=list)
    refused: int = 0

    def time_once(self) -> None:
        pii.cache_clear()
        if self.warm:
            _run(self.identifiers, self.call)  # untimed: fills the caches
        seconds, self.refused = _run(self.identifiers, self.call)
        self.seconds.append(seconds)

    def row(self) -> tuple[str, str, str]:
        rate = len(self.identifiers) / min(self.seconds)
        verdict = "target met" if rate >= TARGET_PER_SECOND else "BELOW the 200,000/s target"
        notes = self.notes.format(refused=self.refused)
        return self.label, f"{rate:,.0f} ids/s", f"{notes}; {verdict}"


def _hash_for(spec: str) -> Callable[..., object]:
    return lambda field, value, region: pii.hashed(field, value, spec=spec, default_region=region)


def _hash_for_all_specs(field: str, value: str, region: str | None) -> object:
    return pii.hashed_for_specs(field, value, default_region=region)


def _cases() -> list[_Case]:
    cases = []
    for mix_name, mix in (("realistic", REALISTIC_MIX), ("uniform", UNIFORM_MIX)):
        identifiers = distinct_identifiers(mix, DISTINCT_IDS)
        cases += [
            _Case(
                f"{mix_name} mix, distinct, {spec}",
                identifiers,
                _hash_for(spec),
                warm=False,
                notes=f"{len(identifiers):,} distinct ids, {{refused}} refused",
            )
            for spec in pii.SPECS
        ]
    identifiers = distinct_identifiers(REALISTIC_MIX, DISTINCT_IDS)
    cases.append(
        _Case(
            "realistic mix, distinct, hashed_for_specs (3 specs per call)",
            identifiers,
            _hash_for_all_specs,
            warm=False,
            notes=f"{len(identifiers):,} distinct ids, {{refused}} refused; per identifier",
        )
    )
    phones = distinct_phones(DISTINCT_PHONES)
    cases += [
        _Case(
            f"phones only, distinct, {spec}",
            phones,
            _hash_for(spec),
            warm=False,
            notes=f"{len(phones):,} distinct numbers, {{refused}} refused",
        )
        for spec in ("meta", "google")
    ]
    lookups = warm_lookups(REALISTIC_MIX, ACTIVE_VISITORS, WARM_LOOKUPS)
    distinct = len(set(lookups))
    cases += [
        _Case(
            f"realistic mix, visitors seen again, {spec}",
            lookups,
            _hash_for(spec),
            warm=True,
            notes=f"{len(lookups):,} lookups of {distinct:,} distinct ids "
            f"({ACTIVE_VISITORS:,} visitors), {{refused}} refused",
        )
        for spec in pii.SPECS
    ]
    return cases


def measure() -> list[tuple[str, str, str]]:
    """Rows of (label, figure, notes); see the module docstring for what each one means.

    The cases take turns (every case once, then every case again, RUNS times) and each keeps
    its best run, so a burst of load on a shared machine spoils one run of several cases
    rather than every run of one."""
    cases = _cases()
    for _ in range(RUNS):
        for case in cases:
            case.time_once()
    return [case.row() for case in cases]


def main() -> None:
    rows = measure()
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    print(f"privacy.pii, one thread, best of {RUNS} runs, {os.cpu_count()} CPU(s) on the machine")
    for label, figure, notes in rows:
        print(f"{label.ljust(widths[0])}  {figure.rjust(widths[1])}  {notes}")


if __name__ == "__main__":
    main()
