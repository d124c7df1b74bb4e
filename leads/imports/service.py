"""`leads_import`: read a file's rows, fold them into leads, write them set-based.

How a file becomes leads:
1. Every row is read and checked on its own (`rows.py` and the format modules). A bad row is
   rejected with its line and reason and takes no further part.
2. Inside one transaction, the existing leads the file names (by Record ID / external_id, then by
   email ignoring case) are locked, and the rows are folded into them in file order: rows with the
   same id or email are one lead. A row changes only what it states: contact fields it fills, a
   first-reached date only ever earlier, a stage only forward (or out of the funnel as
   disqualified/lost where the lifecycle allows it). Re-importing a file therefore changes nothing.
3. The result is written in bulk: new accounts, new leads with their attribution, changed leads,
   one StageTransition per stage reached (actor `import`, at its first-reached time), and a
   set-based rescore of the leads written.

A row is all or nothing: every check that can reject it runs before it is folded in, and the
write is one transaction, so no row is ever half applied.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import CharField, Q, Value
from django.db.models.functions import Cast, Concat, Lower
from django.utils import timezone

from campaigns.attribution import touch_first_fields, touch_resolve
from campaigns.models import Campaign
from reports.snapshots import kpis_mark_dirty_at

from ..actors import Actor, SystemActor, actor_fields
from ..models import Account, Lead, StageTransition
from ..services import account_build
from ..sql import id_set, rows_insert
from ..stages import EXIT_FROM, EXIT_STAGES, FUNNEL, REACHED_FIELD, TERMINAL_STAGES, Stage
from . import hubspot, product_csv
from .rows import ImportRow, RowError, fold_case

FORMATS = {
    "hubspot": (hubspot.REQUIRED, hubspot.OPTIONAL, hubspot.hubspot_row),
    "csv": (product_csv.REQUIRED, product_csv.OPTIONAL, product_csv.product_row),
}
# A HubSpot export carries hundreds of other properties; our own format has no unknown columns,
# so a misspelt one is an error rather than silently dropped data.
IGNORES_UNKNOWN_COLUMNS = {"hubspot": True, "csv": False}
CHUNK = 2000
CONTACT_FIELDS = ("first_name", "last_name", "phone", "job_title")
TRACKED = (
    "email", "external_id", *CONTACT_FIELDS, "account_id", "owner_id", "deal_amount", "stage",
    *REACHED_FIELD.values(), "closed_at", "exit_reason",
)

Progress = Callable[[str, int, int], None]


class ImportFileError(Exception):
    """The file as a whole cannot be imported (its header); nothing was written."""


@dataclass
class ImportReport:
    format: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    rows: int = 0
    seconds: float = 0.0

    @property
    def summary(self) -> str:
        return (
            f"created {self.created}, updated {self.updated}, unchanged {self.unchanged}, "
            f"skipped {self.skipped}, rejected {len(self.rejected)}"
        )


def leads_import(
    *,
    file: TextIO,
    format: str,
    actor: Actor = SystemActor.IMPORT,
    progress: Progress | None = None,
    engine: str = "auto",
) -> ImportReport:
    """Import a CSV of leads. Returns the counts and the rejected rows (line, reason); raises
    ImportFileError, writing nothing, when the header is unusable.

    `engine` is "python" (row by row, any database), "sql" (set-based, PostgreSQL only: see
    `pg.py`) or "auto", the SQL one on PostgreSQL. Both apply the same rules with the same
    results; the SQL engine hands the rows it cannot settle on its own to the Python one."""
    if format not in FORMATS:
        raise ImportFileError(f"Unknown format '{format}': use one of {', '.join(FORMATS)}.")
    if engine == "auto":
        engine = "sql" if connection.vendor == "postgresql" else "python"
    started = time.perf_counter()
    progress = progress or (lambda phase, done, total: None)
    report = ImportReport(format=format)
    reader = csv.reader(file)
    header = _header_read(reader, format)
    now = timezone.now()
    with transaction.atomic():
        if engine == "sql":
            from .pg import sql_import

            changed = sql_import(
                cells=_cells(reader, header, report, progress), header=header, report=report,
                actor=actor, progress=progress, now=now,
            )
        else:
            rows = rows_parse(
                _cells(reader, header, report, progress), header=header, report=report, now=now
            )
            changed = Fold(rows, report, actor, progress).run()
        report.rejected.sort()
        if changed:
            from ..scoring.services import leads_rescore

            progress("score", 0, len(changed))
            leads_rescore(lead_ids=changed)
            progress("score", len(changed), len(changed))
    report.seconds = time.perf_counter() - started
    return report


# --- reading ------------------------------------------------------------------------------------


def _header_check(header: list[str] | None, format: str) -> None:
    required, optional, _ = FORMATS[format]
    if not header:
        raise ImportFileError("The file is empty: it has no header line.")
    duplicates = sorted({c for c in header if header.count(c) > 1})
    if duplicates:
        raise ImportFileError(f"Line 1: column {', '.join(duplicates)} appears more than once.")
    missing = [c for c in required if c not in header]
    if missing:
        raise ImportFileError(
            f"Line 1: missing column{'s' if len(missing) > 1 else ''} "
            + ", ".join(f"'{c}'" for c in missing)
            + " (headers are matched exactly, case included)."
        )
    unknown = [c for c in header if c not in required and c not in optional]
    if unknown and not IGNORES_UNKNOWN_COLUMNS[format]:
        raise ImportFileError(
            f"Line 1: unknown column{'s' if len(unknown) > 1 else ''} "
            + ", ".join(f"'{c}'" for c in unknown)
            + f". The columns are: {', '.join((*required, *optional))}."
        )


def _header_read(reader, format: str) -> list[str]:
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ImportFileError(f"Line 1: not a readable CSV file ({exc}).") from exc
    if header:
        header = [h.strip().lstrip("\ufeff") for h in header]  # an Excel BOM
    _header_check(header, format)
    return header


def _cells(reader, header: list[str], report: ImportReport, progress: Progress):
    """(line, cells) of each row the CSV reader can read, in file order; the line is the row's
    first physical line (the header is line 1). Unreadable rows, and rows with more cells than the
    header, are rejected here; blank lines are no rows at all."""
    line = reader.line_num + 1
    width = len(header)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        # A UnicodeDecodeError is not caught: the file is not the text it claims to be, and the
        # caller refuses it whole (nothing is written before every row has been read).
        except csv.Error as exc:
            report.rows += 1
            report.rejected.append((line, f"not readable as CSV ({exc})"))
            line = reader.line_num + 1
            continue
        text = "".join(cells)
        if text.strip():  # a blank line is not a row
            report.rows += 1
            if len(cells) > width:
                report.rejected.append((line, f"has {len(cells)} cells but the header has {width}"))
            elif "\x00" in text:
                report.rejected.append((line, "contains a NUL character, which is not text"))
            else:
                yield line, cells
            if report.rows % CHUNK == 0:
                progress("read", report.rows, 0)
        line = reader.line_num + 1
    progress("read", report.rows, report.rows)


def rows_parse(cells, *, header: list[str], report: ImportReport, now: datetime):
    """The rows as ImportRows, in file order; bad rows go to the report, subscribers are counted
    as skipped."""
    parse = FORMATS[report.format][2]
    rows: list[ImportRow] = []
    for line, values in cells:
        try:
            parsed = parse(dict(zip(header, values, strict=False)), line=line, now=now)
        except RowError as exc:
            report.rejected.append((line, str(exc)))
        else:
            if parsed is None:
                report.skipped += 1
            else:
                rows.append(parsed)
    return rows


# --- folding rows into leads --------------------------------------------------------------------


class _State:
    """One lead as the file wants it: an existing lead (locked) or a new one, plus the moves
    between stages its rows made."""

    __slots__ = ("lead", "is_new", "original", "moves", "account_key", "first_row")

    def __init__(self, lead: Lead, *, is_new: bool, first_row: ImportRow | None = None):
        self.lead = lead
        self.is_new = is_new
        self.original = {} if is_new else _snapshot(lead)
        self.moves: list[tuple[str, Stage]] = []
        self.account_key: str | None = None
        self.first_row = first_row

    def changed(self) -> bool:
        return self.is_new or _snapshot(self.lead) != self.original or self.account_key is not None


def _snapshot(lead: Lead) -> tuple:
    return tuple(getattr(lead, f) for f in TRACKED)


class Fold:
    """Folds parsed rows into leads and writes them; `run` returns the ids of the leads it
    created or changed, for the caller to rescore."""

    def __init__(
        self, rows: list[ImportRow], report: ImportReport, actor, progress: Progress,
        *, account_rows: dict[str, ImportRow] | None = None,
    ):
        """`account_rows`: the first row naming each new company among rows another engine
        imports (the SQL engine's, `pg.py`): an earlier row folded here describes it instead,
        and either way the account is created here."""
        self.rows, self.report, self.actor, self.progress = rows, report, actor, progress
        self.by_external: dict[str, _State] = {}
        self.by_email: dict[str, _State] = {}
        self.accounts: dict[str, Account] = {}
        self.account_rows: dict[str, ImportRow] = dict(account_rows or {})
        self.owners: dict[str, object] = {}
        self.campaigns: dict[str, Campaign] = {}

    def run(self) -> list[int]:
        self._preload()
        total = len(self.rows)
        for done, row in enumerate(self.rows, start=1):
            try:
                self._fold(row)
            except RowError as exc:
                self.report.rejected.append((row.line, str(exc)))
            if done % CHUNK == 0:
                self.progress("match", done, total)
        self.progress("match", total, total)
        return self._write()

    # Everything the rows refer to is read in a few queries up front, not once per row.
    def _preload(self) -> None:
        externals = {r.external_id for r in self.rows if r.external_id}
        emails = {r.key_email for r in self.rows}
        existing: dict[int, Lead] = {}
        for chunk in _chunks(sorted(externals), 10_000):
            existing.update(_locked(Q(external_id__in=chunk)))
        found = {fold_case(lead.email) for lead in existing.values()}
        for chunk in _chunks(sorted(emails - found), 10_000):
            existing.update(_locked(Q(email_lower__in=chunk)))
        for lead in sorted(existing.values(), key=lambda x: x.pk):
            state = _State(lead, is_new=False)
            if lead.external_id:
                self.by_external[lead.external_id] = state
            self.by_email[fold_case(lead.email)] = state

        names = {fold_case(r.company) for r in self.rows if r.company}
        for chunk in _chunks(sorted(names)):
            for account in (
                Account.objects.annotate(name_lower=Lower("name"))
                .filter(name_lower__in=chunk)
                .order_by("-pk")  # with two of one name, the oldest wins
            ):
                self.accounts[account.name_lower] = account

        User = get_user_model()
        keys = {fold_case(r.owner) for r in self.rows if r.owner}
        if keys:
            users = User.objects.annotate(u=Lower("username"), e=Lower("email")).filter(
                Q(u__in=keys) | Q(e__in=keys), is_active=True
            )
            users = list(users.order_by("-pk"))  # with two of one email, the oldest wins
            self.owners.update((user.e, user) for user in users)
            self.owners.update((user.u, user) for user in users)  # a username beats an email
        self.campaigns = {
            c.utm_campaign.lower(): c for c in Campaign.objects.all()
        }

    def _fold(self, row: ImportRow) -> None:
        state = self._state_for(row)
        owner = self._owner(row)
        campaign = None
        if row.campaign:
            campaign = self.campaigns.get(row.campaign.lower())
            if campaign is None:
                raise RowError(f"campaign: no campaign with UTM campaign '{row.campaign}'")
        if state is None:
            self._create(row, owner, campaign)
            self.report.created += 1
            return
        before = (_snapshot(state.lead), state.account_key, len(state.moves))
        self._apply(state, row, owner)
        after = (_snapshot(state.lead), state.account_key, len(state.moves))
        if before == after:
            self.report.unchanged += 1
        else:
            self.report.updated += 1

    def _state_for(self, row: ImportRow) -> _State | None:
        by_id = self.by_external.get(row.external_id) if row.external_id else None
        by_email = self.by_email.get(row.key_email)
        if by_id is not None and by_email is not None and by_id is not by_email:
            raise RowError(
                f"Email: {row.email} belongs to another lead than {_id_label(row)} "
                f"({by_id.lead.email})"
            )
        state = by_id or by_email
        if (
            state is not None
            and row.external_id
            and state.lead.external_id
            and state.lead.external_id != row.external_id
        ):
            raise RowError(
                f"Email: {row.email} belongs to a lead imported with another id "
                f"({state.lead.external_id.split(':', 1)[-1]})"
            )
        return state

    def _owner(self, row: ImportRow):
        if not row.owner:
            return None
        owner = self.owners.get(fold_case(row.owner))
        if owner is None:
            column = "Contact owner" if self.report.format == "hubspot" else "owner"
            raise RowError(f"{column}: no active user with username or email '{row.owner}'")
        return owner

    def _account_key(self, row: ImportRow) -> str | None:
        if not row.company:
            return None
        key = fold_case(row.company)
        first = self.account_rows.get(key)
        if key not in self.accounts and (first is None or row.line < first.line):
            self.account_rows[key] = row  # the first row naming a new company describes it
        return key

    def _create(self, row: ImportRow, owner, campaign) -> None:
        reached = {REACHED_FIELD[s]: at for s, at in row.reached.items()}
        lead = Lead(
            email=row.email,
            external_id=row.external_id,
            first_name=row.first_name,
            last_name=row.last_name,
            phone=row.phone,
            job_title=row.job_title,
            owner=owner,
            deal_amount=row.deal_amount,
            stage=row.stage,
            closed_at=row.closed_at,
            exit_reason=row.exit_reason,
            **reached,
        )
        state = _State(lead, is_new=True, first_row=row)
        state.account_key = self._account_key(row)
        previous = ""
        for stage in FUNNEL[: len(row.reached)]:
            state.moves.append((previous, stage))
            previous = stage
        if row.stage in EXIT_STAGES:
            state.moves.append((previous, row.stage))
        touch = touch_resolve(
            utm=row.utm, campaign=campaign, channel=row.channel or None, cta=row.cta,
            landing_page=row.landing_page, campaigns_by_utm=self.campaigns,
        )
        for name, value in touch_first_fields(touch, at=lead.became_lead_at).items():
            setattr(lead, name, value)
        if row.external_id:
            self.by_external[row.external_id] = state
        self.by_email[row.key_email] = state

    def _apply(self, state: _State, row: ImportRow, owner) -> None:
        lead = state.lead
        for name in CONTACT_FIELDS:
            value = getattr(row, name)
            if value and getattr(lead, name) != value:
                setattr(lead, name, value)
        if row.key_email != fold_case(lead.email):
            # The row's id names this lead and its new email is free (_state_for checked).
            self.by_email.pop(fold_case(lead.email), None)
            lead.email = row.email
            self.by_email[row.key_email] = state
        if row.external_id and not lead.external_id:
            lead.external_id = row.external_id
            self.by_external[row.external_id] = state
        if owner is not None and lead.owner_id != owner.pk:
            lead.owner = owner
        if row.deal_amount is not None and lead.deal_amount != row.deal_amount:
            lead.deal_amount = row.deal_amount
        key = self._account_key(row)
        current = state.account_key or (
            fold_case(lead.account.name) if lead.account_id else None
        )
        if key is not None and key != current:
            state.account_key = key
        # First-reached dates only ever move earlier. A stage the lead has not reached gets its
        # date when _advance moves the lead into it, never while it stays behind or closed.
        won_before = lead.became_won_at
        for stage, at in row.reached.items():
            name = REACHED_FIELD[stage]
            if getattr(lead, name) is not None and at < getattr(lead, name):
                setattr(lead, name, at)
        if lead.stage == Stage.WON and won_before is not None and lead.closed_at == won_before:
            lead.closed_at = lead.became_won_at  # it was won when it was first won
        self._advance(state, row)

    def _advance(self, state: _State, row: ImportRow) -> None:
        """Forward only: an import never moves a lead back, nor reopens a closed one."""
        lead = state.lead
        if lead.stage in TERMINAL_STAGES:
            return
        row_top = FUNNEL[len(row.reached) - 1]
        current = FUNNEL.index(Stage(lead.stage))
        for stage in FUNNEL[current + 1 : FUNNEL.index(row_top) + 1]:
            name = REACHED_FIELD[stage]
            if getattr(lead, name) is None:
                setattr(lead, name, row.reached[stage])
            state.moves.append((lead.stage, stage))
            lead.stage = stage
        if lead.stage == Stage.WON:
            lead.closed_at, lead.exit_reason = lead.became_won_at, ""
        elif row.stage in EXIT_STAGES and lead.stage in EXIT_FROM[row.stage]:
            latest = max(
                getattr(lead, REACHED_FIELD[s]) for s in FUNNEL[: FUNNEL.index(lead.stage) + 1]
            )
            state.moves.append((lead.stage, row.stage))
            lead.stage = row.stage
            lead.closed_at = max(row.closed_at, latest)
            lead.exit_reason = row.exit_reason

    # --- writing --------------------------------------------------------------------------------

    def _write(self) -> list[int]:
        states = {id(s): s for s in (*self.by_email.values(), *self.by_external.values())}
        changed = sorted(
            (s for s in states.values() if s.changed()),
            key=lambda s: (not s.is_new, s.lead.pk or 0),
        )
        self._accounts_create()
        for state in changed:
            if state.account_key is not None:
                state.lead.account = self.accounts[state.account_key]
        new = [s for s in changed if s.is_new]
        old = [s for s in changed if not s.is_new]
        total, done = len(changed), 0
        now = timezone.now()
        # Emails passed from one lead to another (a@ -> b@ while b@ -> c@, or a@ -> b@ while a
        # new lead takes a@) would collide on the unique index mid-write: the leads whose email
        # changes let go of theirs before anything else is written.
        moved = [s.lead.pk for s in old if s.lead.email != s.original[0]]
        if moved:
            Lead.objects.filter(pk__in=id_set(moved)).update(
                email=Concat(Value("import-swap-"), Cast("pk", CharField()), Value("@invalid"))
            )
        for chunk in _chunks(new, 10_000):
            rows_insert(Lead, [s.lead for s in chunk], now=now)
            done += len(chunk)
            self.progress("write", done, total)
        for chunk in _chunks(old):
            for state in chunk:
                state.lead.version += 1
                state.lead.updated_at = now
            Lead.objects.bulk_update(
                [s.lead for s in chunk], [*_update_fields(), "version", "updated_at"],
                batch_size=500,
            )
            done += len(chunk)
            self.progress("write", done, total)
        fields = actor_fields(self.actor)
        rows_insert(
            StageTransition,
            [
                StageTransition(
                    lead_id=s.lead.pk, from_stage=frm, to_stage=to, at=_move_at(s.lead, to),
                    reason=s.lead.exit_reason if to in EXIT_STAGES else "", **fields,
                )
                for s in changed
                for frm, to in s.moves
            ],
            now=now,
        )
        # The KPI snapshot days these leads were, and now are, counted on.
        kpis_mark_dirty_at(
            at
            for s in changed
            for before in [dict(zip(TRACKED, s.original, strict=False))]
            for f in REACHED_FIELD.values()
            for at in (getattr(s.lead, f), before.get(f))
        )
        return [s.lead.pk for s in changed]

    def _accounts_create(self) -> None:
        wanted = [
            (key, row) for key, row in self.account_rows.items() if key not in self.accounts
        ]
        built = [
            account_build(
                name=row.company, domain=row.company_domain, industry=row.industry,
                employees=row.employees, country=row.country,
            )
            for _, row in wanted
        ]
        Account.objects.bulk_create(built, batch_size=CHUNK)
        for (key, _), account in zip(wanted, built, strict=True):
            self.accounts[key] = account


def _update_fields() -> list[str]:
    return [f.removesuffix("_id") if f in ("account_id", "owner_id") else f for f in TRACKED]


def _move_at(lead: Lead, to_stage: str) -> datetime:
    if to_stage in EXIT_STAGES:
        return lead.closed_at
    return getattr(lead, REACHED_FIELD[Stage(to_stage)])


def _locked(condition: Q) -> dict[int, Lead]:
    leads = (
        Lead.objects.annotate(email_lower=Lower("email"))
        .select_for_update(of=("self",))
        .select_related("account")
        .filter(condition)
        .order_by("pk")
    )
    return {lead.pk: lead for lead in leads}


def _chunks(items, size: int = CHUNK):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _id_label(row: ImportRow) -> str:
    source, _, value = row.external_id.partition(":")
    return f"Record ID {value}" if source == "hubspot" else f"external_id {value}"
