"""One import row, read and checked: plain values, no database. Both file formats produce these;
the writer folds them into leads.

The first-reached rules (issue 4, PRODUCT.md "The lifecycle") are `reached_dates`:
- a stage's first-reached time is the earliest of its own date and every later stage's date;
- a reached stage with no date of its own and no later date takes the latest earlier date.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal, InvalidOperation

import pycountry
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from ..stages import EXIT_FROM, FUNNEL, Stage, funnel_index


class RowError(Exception):
    """A reason to reject one row; its message names the column."""


@dataclass
class ImportRow:
    line: int
    email: str
    external_id: str = ""
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    job_title: str = ""
    company: str = ""
    company_domain: str = ""
    industry: str = ""
    employees: int | None = None
    country: str = ""
    owner: str = ""  # a username or email, matched by the writer
    stage: Stage = Stage.LEAD
    exit_reason: str = ""
    deal_amount: Decimal | None = None
    reached: dict[Stage, datetime] = field(default_factory=dict)
    closed_at: datetime | None = None
    channel: str = ""
    campaign: str = ""  # a campaign's utm_campaign
    utm: dict[str, str] = field(default_factory=dict)
    cta: str = ""
    landing_page: str = ""

    @property
    def key_email(self) -> str:
        return fold_case(self.email)


def fold_case(value: str) -> str:
    """`value` in lower case the way the database writes it, for matching: PostgreSQL's lower()
    (which the unique index on lower(email) and the lookups by name use) maps character by
    character, where str.lower() writes İ as i + a combining dot and a word's final Σ as ς."""
    if value.isascii():
        return value.lower()
    return "".join("i" if c == "\u0130" else c.lower() for c in value)


# --- cells --------------------------------------------------------------------------------------


def cell(row: dict, column: str) -> str:
    return (row.get(column) or "").strip()


def parse_email(value: str, column: str = "Email") -> str:
    if not value:
        raise RowError(f"{column}: missing")
    try:
        validate_email(value)
    except ValidationError:
        raise RowError(f"{column}: '{value}' is not a valid email address") from None
    if len(value) > 254:
        raise RowError(f"{column}: longer than 254 characters")
    return value


def when_parse(value: str) -> datetime | None:
    """A non-empty cell as an aware datetime, or None when it is not a date (or is one before
    0001-01-01 UTC, which no database stores)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        # What timezone.make_aware does with zoneinfo, without its per-call lookups.
        parsed = parsed.replace(tzinfo=timezone.get_default_timezone())
    offset = parsed.utcoffset()
    if parsed.year == 1 or abs(offset) > MAX_OFFSET:
        try:
            instant = parsed.astimezone(UTC)
        except OverflowError:  # before year 1 in UTC; past 9999 it is refused as in the future
            return None if parsed.year == 1 else parsed
        if abs(offset) > MAX_OFFSET:
            return instant  # the same instant, written with an offset PostgreSQL reads
    # The same instant with a fixed offset instead of the zone: Python compares two times of one
    # tzinfo by their wall clocks, which around a DST change is not the order of the instants
    # (in Berlin, 02:30 on the day the clocks go forward is read as 01:30 UTC, after 03:00).
    return parsed.replace(tzinfo=_fixed_offset(offset))


# PostgreSQL refuses a timestamp written with a UTC offset of 16 hours or more.
MAX_OFFSET = timedelta(hours=15, minutes=59, seconds=59)
_fixed_offset = functools.lru_cache(maxsize=256)(dt_timezone)


def parse_when(value: str, column: str, *, now: datetime) -> datetime | None:
    """`YYYY-MM-DD HH:MM` or ISO 8601; a time without an offset is in TIME_ZONE."""
    if not value:
        return None
    parsed = when_parse(value)
    if parsed is None:
        raise RowError(f"{column}: '{value}' {NOT_A_DATE}")
    if parsed > now:
        raise RowError(f"{column}: '{value}' is in the future")
    return parsed


NOT_A_DATE = "is not a date (use YYYY-MM-DD HH:MM or ISO 8601)"


# The largest value a PositiveIntegerField holds on every database (PostgreSQL's integer).
MAX_COUNT = 2_147_483_647


def parse_count(value: str, column: str) -> int | None:
    if not value:
        return None
    digits = value.replace(",", "").replace("_", "")
    # ASCII only: str.isdigit() accepts digits such as '²' that int() refuses.
    if not (digits.isascii() and digits.isdigit()):
        raise RowError(f"{column}: '{value}' is not a whole number")
    if int(digits) > MAX_COUNT:
        raise RowError(f"{column}: '{value}' is larger than {MAX_COUNT:,}")
    return int(digits)


def parse_amount(value: str, column: str) -> Decimal | None:
    if not value:
        return None
    try:
        amount = Decimal(value.replace(",", ""))
    except InvalidOperation:
        raise RowError(f"{column}: '{value}' is not an amount") from None
    if not amount.is_finite() or amount < 0 or amount != round(amount, 2) or amount >= 10**12:
        raise RowError(f"{column}: '{value}' is not an amount (0 or more, at most 2 decimals)")
    return amount


def parse_country(value: str, column: str) -> str:
    """An ISO 3166 code or an English name (`Germany`, `DE`, `DEU`), stored as its alpha-2 code."""
    if not value:
        return ""
    code = _country_code(value)
    if code is None:
        raise RowError(f"{column}: '{value}' is not a country")
    return code


# Names people write that ISO 3166 does not use.
_COUNTRY_ALIASES = {
    "uk": "GB", "u.k.": "GB", "great britain": "GB", "england": "GB", "scotland": "GB",
    "wales": "GB", "northern ireland": "GB", "usa": "US", "u.s.": "US", "u.s.a.": "US",
    "america": "US", "holland": "NL", "czech republic": "CZ", "south korea": "KR",
    "russia": "RU", "vietnam": "VN", "turkey": "TR",
}


@functools.lru_cache(maxsize=1024)
def _country_code(value: str) -> str | None:
    if value.lower() in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[value.lower()]
    try:
        return pycountry.countries.lookup(value).alpha_2
    except LookupError:
        return None


def limit(value: str, column: str, max_length: int) -> str:
    if len(value) > max_length:
        raise RowError(f"{column}: longer than {max_length} characters")
    return value


# --- the first-reached rules --------------------------------------------------------------------


def reached_dates(
    *, stage: Stage, dates: dict[Stage, datetime | None], columns: dict[Stage, str]
) -> dict[Stage, datetime]:
    """The first time the lead reached each stage it has reached, by the rules in the module
    docstring. `stage` is where the lead is now; `dates` the dates the row gives per funnel stage.

    A lead has reached every funnel stage up to its own; a lost lead at least SQL, and a lost or
    disqualified lead every stage the row dates. Dates of stages past a funnel stage inform the
    earlier dates (the contact was there no later) but are not kept: the lead's stage says where
    it is, and its history never runs past it.
    """
    given = {s: d for s, d in dates.items() if d is not None}
    if stage in FUNNEL:
        last = funnel_index(stage)
    else:
        dated = [funnel_index(s) for s in given]
        floor = funnel_index(Stage.SQL) if stage == Stage.LOST else 0
        last = max([floor, *dated])
        allowed = EXIT_FROM[stage]
        if FUNNEL[last] not in allowed:
            raise RowError(
                f"{columns[FUNNEL[last]]}: a {stage.label.lower()} lead cannot have reached "
                f"{FUNNEL[last].label}; it is marked {stage.label.lower()} only from "
                + ", ".join(Stage(s).label for s in allowed)
            )
    reached: dict[Stage, datetime] = {}
    later_min: datetime | None = None
    # Walk backwards: each stage takes the earliest of its own date and every later date.
    for index in range(len(FUNNEL) - 1, -1, -1):
        own = given.get(FUNNEL[index])
        candidates = [d for d in (own, later_min) if d is not None]
        earliest = min(candidates) if candidates else None
        later_min = earliest
        if index <= last and earliest is not None:
            reached[FUNNEL[index]] = earliest
    # A reached stage with no own or later date takes the latest date before it.
    previous: datetime | None = None
    for index in range(last + 1):
        s = FUNNEL[index]
        if s in reached:
            previous = reached[s]
        elif previous is not None:
            reached[s] = previous
        else:
            raise RowError(f"{columns[Stage.LEAD]}: missing, so the lead has no creation date")
    return reached
