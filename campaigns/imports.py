"""Loading daily marketing metrics from a CSV file (`manage.py import_metrics`).

The file: a `date` column (YYYY-MM-DD), a `channel` slug, an optional `campaign` (its
utm_campaign, any case) and any of DailyMetric's figures as further columns. Each row upserts the
day of its channel, or of its campaign: importing a file again replaces the figures, never adds to
them, and a figure left empty or left out is unknown (null), not zero.

Numbers are written plainly: counts as whole numbers (`1234`), spend with a dot and at most two
decimals (`1234.50`). Thousands separators, currency signs and decimal commas are refused rather
than guessed at: `1,234` is 1234 in one locale and 1.234 in another, and a wrong guess would
silently turn a figure into another one.

Reporting follows import_leads: each row is applied whole or not at all, a bad row is rejected
with its line number (the header is line 1) and the reason, and the good rows are imported
either way. A bad header (no `date` or `channel`, an unknown or repeated column) fails the whole
file before anything is written.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, TextIO

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction

from leads.actors import Actor, is_user

from .models import METRIC_FIELDS, Campaign, Channel, DailyMetric
from .services import daily_metric_upsert

REQUIRED_COLUMNS = ("date", "channel")
KEY_COLUMNS = (*REQUIRED_COLUMNS, "campaign")
VALID_COLUMNS = (*KEY_COLUMNS, *METRIC_FIELDS)
DECIMAL_FIELDS = frozenset({"spend"})

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_WHOLE = re.compile(r"[0-9]+")  # ASCII digits only: no separators, signs or dots
_AMOUNT = re.compile(r"[0-9]+(\.[0-9]+)?")
_COUNT_MAX = 9_223_372_036_854_775_807  # PositiveBigIntegerField's ceiling
_SPEND_INTEGER_DIGITS = 12  # DecimalField(max_digits=14, decimal_places=2)

Progress = Callable[[int, int], None]


class MetricsFileError(ValidationError):
    """The file as a whole cannot be imported (its header); nothing was written."""


@dataclass
class MetricsImportReport:
    """What an import did. Every data row counts exactly once: created + updated + unchanged +
    rejected is the number of rows. A row repeating an earlier row's day in the same file
    replaces it (it is an upsert) and counts as updated or unchanged; `repeated` names the pair
    so that an accidental duplicate is visible."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    repeated: list[tuple[int, int]] = field(default_factory=list)  # (line, earlier line)

    @property
    def rows(self) -> int:
        return self.created + self.updated + self.unchanged + len(self.rejected)


@dataclass
class _Row:
    line: int
    date: date
    channel: str
    campaign: Campaign | None
    values: dict[str, Any]

    @property
    def key(self) -> tuple:
        return (self.date, self.channel, self.campaign.pk if self.campaign else None)


class _RowError(Exception):
    pass


def daily_metrics_import(
    *, file: TextIO, actor: Actor, progress: Progress | None = None
) -> MetricsImportReport:
    """Import a metrics CSV (see the module docstring). Raises MetricsFileError for a bad header
    and PermissionDenied for an actor who may not change metrics, both before writing anything.
    `progress(done, total)` is called as rows are processed."""
    if is_user(actor) and not (actor.is_active and actor.has_perm("campaigns.change_dailymetric")):
        raise PermissionDenied("You may not change marketing metrics.")
    reader = csv.reader(file)
    header = _header_read(reader)
    records = list(_records(reader))
    campaigns = {c.utm_campaign.lower(): c for c in Campaign.objects.all()}

    report = MetricsImportReport()
    applied_at: dict[tuple, int] = {}  # a day's key -> the line that last set it
    for done, (line, cells) in enumerate(records, start=1):
        try:
            row = _row_parse(line, header, cells, campaigns)
            outcome = _row_apply(row, actor)
        except _RowError as exc:
            report.rejected.append((line, str(exc)))
        else:
            setattr(report, outcome, getattr(report, outcome) + 1)
            if row.key in applied_at:
                report.repeated.append((line, applied_at[row.key]))
            applied_at[row.key] = line
        if progress:
            progress(done, len(records))
    return report


# --- the file -----------------------------------------------------------------------------------


def _header_read(reader) -> list[str]:
    try:
        header = next(reader)
    except StopIteration:
        raise MetricsFileError("The file is empty: it needs a header row.") from None
    # Excel writes a byte-order mark before the first column name when it saves "CSV UTF-8".
    header = [name.lstrip("\ufeff").strip().lower() for name in header]
    valid = ", ".join(VALID_COLUMNS)
    for position, name in enumerate(header, start=1):
        if not name:
            raise MetricsFileError(
                f"Column {position} of the header has no name. Valid columns: {valid}."
            )
        if name not in VALID_COLUMNS:
            raise MetricsFileError(f"Unknown column '{name}'. Valid columns: {valid}.")
        if header.count(name) > 1:
            raise MetricsFileError(f"Column '{name}' appears more than once in the header.")
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise MetricsFileError(
            f"Missing column '{missing[0]}': every file needs "
            f"{' and '.join(REQUIRED_COLUMNS)}. Valid columns: {valid}."
        )
    return header


def _records(reader) -> Iterable[tuple[int, list[str]]]:
    """Data rows with the line each starts on (a quoted cell may span lines). Blank rows, such
    as the trailing `,,,` lines a spreadsheet leaves, are skipped."""
    next_line = reader.line_num + 1
    for cells in reader:
        line, next_line = next_line, reader.line_num + 1
        if any(cell.strip() for cell in cells):
            yield line, cells


# --- one row ------------------------------------------------------------------------------------


def _row_parse(line: int, header: list[str], cells: list[str], campaigns: dict) -> _Row:
    if len(cells) != len(header):
        raise _RowError(f"the row has {len(cells)} cells but the header has {len(header)} columns")
    raw = {name: cell.strip() for name, cell in zip(header, cells, strict=True)}
    errors = []
    parsed: dict[str, Any] = {}
    for name, cell in raw.items():
        try:
            parsed[name] = _cell_parse(name, cell)
        except _RowError as exc:
            errors.append(f"{name}: {exc}")
    channel = parsed.get("channel")
    campaign = None
    if raw.get("campaign"):
        campaign = campaigns.get(raw["campaign"].lower())
        if campaign is None:
            errors.append(f"campaign: no campaign has utm_campaign {raw['campaign']!r}")
        elif channel and campaign.channel != channel:
            errors.append(
                f"campaign: '{campaign.utm_campaign}' belongs to channel {campaign.channel}, "
                f"not {channel}"
            )
    if errors:
        raise _RowError("; ".join(errors))
    values = {name: parsed.get(name) for name in METRIC_FIELDS}
    return _Row(line=line, date=parsed["date"], channel=channel, campaign=campaign, values=values)


def _cell_parse(name: str, cell: str):
    if name == "date":
        return _date_parse(cell)
    if name == "channel":
        return _channel_parse(cell)
    if name == "campaign":
        return cell  # looked up with its channel by the caller
    if not cell:
        return None  # unknown, not zero
    return _amount_parse(cell) if name in DECIMAL_FIELDS else _count_parse(cell)


def _date_parse(cell: str) -> date:
    if not cell:
        raise _RowError("missing (YYYY-MM-DD)")
    if not _DATE.fullmatch(cell):
        raise _RowError(f"{cell!r} is not a date in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(cell)
    except ValueError:
        raise _RowError(f"{cell!r} is not a real date") from None


def _channel_parse(cell: str) -> str:
    if not cell:
        raise _RowError(f"missing (one of {', '.join(Channel.values)})")
    if cell.lower() not in Channel.values:
        raise _RowError(f"{cell!r} is not a channel (one of {', '.join(Channel.values)})")
    return cell.lower()


def _count_parse(cell: str) -> int:
    if cell.startswith("-") and _WHOLE.fullmatch(cell[1:]):
        raise _RowError(f"{cell!r} is negative")
    if not _WHOLE.fullmatch(cell):
        raise _RowError(f"{cell!r} is not a whole number (write digits only, e.g. 1234)")
    value = int(cell)
    if value > _COUNT_MAX:
        raise _RowError(f"{cell!r} is too large")
    return value


def _amount_parse(cell: str) -> Decimal:
    if cell.startswith("-") and _AMOUNT.fullmatch(cell[1:]):
        raise _RowError(f"{cell!r} is negative")
    if not _AMOUNT.fullmatch(cell):
        raise _RowError(f"{cell!r} is not an amount (write e.g. 1234.50)")
    whole, _, fraction = cell.partition(".")
    if len(fraction) > 2:
        raise _RowError(f"{cell!r} has more than 2 decimal places")
    if len(whole.lstrip("0")) > _SPEND_INTEGER_DIGITS:
        raise _RowError(f"{cell!r} is too large")
    return Decimal(cell)


def _row_apply(row: _Row, actor: Actor) -> str:
    """Write one row in its own transaction (a savepoint inside a caller's): it applies whole or
    not at all. Returns which count it adds to."""
    try:
        with transaction.atomic():
            stored = (
                DailyMetric.objects.select_for_update()
                .filter(date=row.date, channel=row.channel, campaign=row.campaign)
                .first()
            )
            if stored is not None and all(
                getattr(stored, name) == value for name, value in row.values.items()
            ):
                return "unchanged"  # nothing to write, so updated_at keeps its meaning
            _, created = daily_metric_upsert(
                actor=actor,
                date=row.date,
                channel=row.channel,
                campaign=row.campaign,
                values=row.values,
            )
    except ValidationError as exc:
        raise _RowError(_validation_reason(exc)) from exc
    except DatabaseError as exc:  # a constraint the checks above did not foresee
        raise _RowError(f"the database refused the row ({exc})") from exc
    return "created" if created else "updated"


def _validation_reason(exc: ValidationError) -> str:
    if not hasattr(exc, "error_dict"):
        return "; ".join(exc.messages)
    return "; ".join(
        f"{name}: {message.rstrip('.')}" if name != "__all__" else message.rstrip(".")
        for name, messages in exc.message_dict.items()
        for message in messages
    )
