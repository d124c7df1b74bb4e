"""The set-based engine of `leads_import`, for PostgreSQL: the same rules as the row-by-row engine
(`rows.py`, the format modules and `service.Fold`), run as a few SQL statements over the whole file.

1. **Stage.** The CSV reader's rows go, as they are, into a temporary table by COPY, one row per
   CSV row with its line number.
2. **Parse.** One statement checks and converts every row: the same checks, in the same order,
   with the same messages, as the row parsers. Values that SQL cannot judge exactly the way Python
   does (an unusual date or email, a country name, a lifecycle label, an owner) are looked up in
   small tables that the Python functions themselves fill, once per distinct value.
3. **Classify.** A row is settled here when it is the file's only row for its lead: its Record ID
   and email appear in no other good row, and it matches no existing lead or exactly one, which no
   other row matches, with the same email. Every other row (a contact listed twice, an email that
   moves from one lead to another, a conflict) goes to the row-by-row engine, in file order. The
   two sets touch different leads, so the order between them does not matter.
4. **Write.** New accounts (described by the first row that names them, whichever engine folds it),
   new leads, changed leads (forward only, first-reached dates only earlier) and one
   StageTransition per stage reached, each as one INSERT or UPDATE.

`tests/leads/test_import.py` runs against this engine on PostgreSQL and against the row-by-row one
on SQLite; `tests/leads/test_import_engines.py` imports the same messy files with both and compares
the databases they leave.
"""

from __future__ import annotations

import csv
import io
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from campaigns.attribution import UTM_FIELDS, touch_resolve
from campaigns.models import Campaign, Channel
from reports.snapshots import kpis_mark_dirty

from ..actors import actor_fields
from ..models import Account, Lead, StageTransition
from ..services import account_build
from ..sql import rows_insert
from ..stages import EXIT_FROM, EXIT_STAGES, FUNNEL, REACHED_FIELD, Stage
from . import hubspot, product_csv
from .rows import (
    ImportRow,
    RowError,
    fold_case,
    parse_amount,
    parse_count,
    parse_country,
)

# What Python's str.strip() removes, so that SQL trims cells exactly as `rows.cell` does.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# Emails SQL accepts itself: plain ASCII addresses of at most 63 characters (so no label is longer
# than 63) that Django's EmailValidator accepts too: a dot-atom, then labels of letters, digits and
# inner hyphens, then a letters-only TLD. Any other email, and any date outside `_fast_date`'s
# shapes, sends its row to the row-by-row engine, which judges it exactly as it always does.
FAST_EMAIL = (
    r"^[-!#$%&'*+/=?^_`{}|~0-9A-Za-z]+(\.[-!#$%&'*+/=?^_`{}|~0-9A-Za-z]+)*"
    r"@[A-Za-z0-9]+(-+[A-Za-z0-9]+)*(\.[A-Za-z0-9]+(-+[A-Za-z0-9]+)*)*\.[A-Za-z][A-Za-z]+$"
)
_TIMES = ("9999-99-99 99:99", "9999-99-99T99:99", "9999-99-99 99:99:99", "9999-99-99T99:99:99")
NAIVE_SHAPES = ("9999-99-99", *_TIMES)
AWARE_SHAPES = tuple(t + tail for t in _TIMES for tail in ("Z", "+99:99", "-99:99"))
TO_PYTHON = "\x01"  # an `error` that asks the row-by-row parser for the exact message
COPY_CHUNK = 10_000
STAGES = [str(s) for s in FUNNEL]

Progress = Callable[[str, int, int], None]


def lit(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def stage_array() -> str:
    return "(ARRAY[" + ", ".join(lit(s) for s in STAGES) + "])"


# --- the formats, as SQL ------------------------------------------------------------------------


@dataclass
class Lookup:
    """A table filled by a Python function, once per distinct value of its key cells."""

    name: str
    keys: tuple[str, ...]  # columns of the file
    outputs: tuple[tuple[str, str], ...]  # (name, SQL type)
    compute: Callable[[tuple[str, ...]], tuple]


class Format:
    """Builds the parse statement of one file format. `v(column)` is a cell, trimmed."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    date_columns: tuple[str, ...]  # parsed as dates
    owner_column: str

    def __init__(self, header: list[str], now: datetime):
        self.present = [c for c in (*self.required, *self.optional) if c in header]
        self.raw = {c: f"c{i}" for i, c in enumerate(self.present)}
        self.now = now
        self._campaigns = None

    def v(self, column: str) -> str:
        return f"v{self.present.index(column)}" if column in self.raw else "''::text"

    def at(self, column: str) -> str:
        return f"at{self.present.index(column)}" if column in self.raw else "NULL::timestamptz"

    @property
    def campaigns(self) -> dict[str, Campaign]:
        if self._campaigns is None:
            self._campaigns = {c.utm_campaign.lower(): c for c in Campaign.objects.all()}
        return self._campaigns

    def owner_lookup(self) -> Lookup:
        column = self.owner_column

        def compute(keys: Iterable[tuple[str, ...]]):
            wanted = {fold_case(k[0]) for k in keys if k[0]}
            owners = {}
            if wanted:
                User = get_user_model()
                users = User.objects.annotate(u=Lower("username"), e=Lower("email")).filter(
                    Q(u__in=wanted) | Q(e__in=wanted), is_active=True
                )
                users = list(users.order_by("-pk"))  # with two of one email, the oldest wins
                owners.update((user.e, user.pk) for user in users)
                owners.update((user.u, user.pk) for user in users)  # a username beats an email
            for (value,) in keys:
                owner = owners.get(fold_case(value)) if value else None
                problem = None
                if value and owner is None:
                    problem = f"{column}: no active user with username or email '{value}'"
                yield (value,), (owner, problem)

        return Lookup("owner", (column,), (("id", "bigint"), ("problem", "text")), compute)

    def lookups(self) -> list[Lookup]:
        raise NotImplementedError

    def values(self) -> dict[str, str]:
        """The row's values (SQL over trimmed cells `vN`, dates `atN` and lookups), named as
        `imp_row`'s columns."""
        raise NotImplementedError

    def problems(self) -> list[str]:
        """The row's checks, in the row parser's order: each is NULL when it passes."""
        raise NotImplementedError


def _limit(expr: str, column: str, size: int) -> str:
    message = lit(f"{column}: longer than {size} characters")
    return f"CASE WHEN length({expr}) > {size} THEN {message} END"


def _email_problem(expr: str, column: str) -> str:
    return (
        f"CASE WHEN {expr} = '' THEN {lit(f'{column}: missing')} "
        f"WHEN length({expr}) <= 63 AND {expr} ~ %(fast_email)s THEN NULL "
        f"ELSE {lit(TO_PYTHON)} END"
    )


def _date_problems(fmt: Format, columns: Iterable[str]) -> list[str]:
    out = []
    for column in columns:
        v, at = fmt.v(column), fmt.at(column)
        out.append(
            f"CASE WHEN {v} <> '' AND {at} IS NULL THEN {lit(TO_PYTHON)} "
            f"WHEN {at} > %(now)s THEN {lit(column + ': ' + chr(39))} || {v} "
            f"|| {lit(chr(39) + ' is in the future')} END"
        )
    return out


def _lookup_problem(name: str) -> str:
    return f"{name}.problem"


def _count_lookup(column: str) -> Lookup:
    def compute(keys):
        for (value,) in keys:
            try:
                yield (value,), (parse_count(value, column), None)
            except RowError as exc:
                yield (value,), (None, str(exc))

    return Lookup("employees", (column,), (("n", "integer"), ("problem", "text")), compute)


def _country_lookup(column: str) -> Lookup:
    def compute(keys):
        for (value,) in keys:
            try:
                yield (value,), (parse_country(value, column), None)
            except RowError as exc:
                yield (value,), ("", str(exc))

    return Lookup("country", (column,), (("code", "text"), ("problem", "text")), compute)


class HubSpot(Format):
    name = "hubspot"
    required, optional = hubspot.REQUIRED, hubspot.OPTIONAL
    date_columns = ("Create Date", *hubspot.DATE_COLUMNS.values())
    owner_column = "Contact owner"
    entry_columns = {str(s): c for s, c in hubspot._ENTRY_COLUMNS.items()}

    def lookups(self) -> list[Lookup]:
        def lifecycle(keys):
            for (value,) in keys:
                stage = hubspot.LIFECYCLE.get(value)
                problem = None
                if stage is None:
                    problem = (
                        f"Lifecycle Stage: '{value}' is not a HubSpot lifecycle stage"
                        if value
                        else "Lifecycle Stage: missing"
                    )
                yield (value,), (str(stage) if stage else None, problem)

        def touch(keys):
            for (source,) in keys:
                resolved = touch_resolve(
                    utm={},
                    campaign=None,
                    channel=hubspot.SOURCE.get(source, Channel.OTHER),
                    campaigns_by_utm=self.campaigns,
                )
                yield (
                    (source,),
                    (resolved.channel, resolved.campaign.pk if resolved.campaign else None, None),
                )

        return [
            Lookup(
                "lifecycle",
                ("Lifecycle Stage",),
                (("stage", "text"), ("problem", "text")),
                lifecycle,
            ),
            Lookup(
                "touch",
                ("Original Source",),
                (("channel", "text"), ("campaign_id", "bigint"), ("problem", "text")),
                touch,
            ),
            _count_lookup("Number of Employees"),
            _country_lookup("Country/Region"),
            self.owner_lookup(),
        ]

    def values(self) -> dict[str, str]:
        v = self.v
        record_id = v("Record ID")
        return {
            "skip": "lifecycle.stage IS NOT DISTINCT FROM 'subscriber'",
            "email": v("Email"),
            "ext": f"CASE WHEN {record_id} <> '' THEN 'hubspot:' || {record_id} ELSE '' END",
            "first_name": v("First Name"),
            "last_name": v("Last Name"),
            "phone": "''",
            "job_title": v("Job Title"),
            "company": v("Company Name"),
            "company_domain": "''",
            "industry": v("Industry"),
            "employees": "employees.n",
            "country": "COALESCE(country.code, '')",
            "owner_id": "owner.id",
            "owner_problem": "owner.problem",
            "stage": "lifecycle.stage",
            "exit_reason": (
                f"CASE WHEN lifecycle.stage = 'disqualified' "
                f"THEN {lit(hubspot.OTHER_REASON)} ELSE '' END"
            ),
            "deal_amount": "NULL::numeric",
            "own0": f"COALESCE({self.at('Became a Lead Date')}, {self.at('Create Date')})",
            **{f"own{i}": self.at(hubspot.DATE_COLUMNS[s]) for i, s in enumerate(FUNNEL) if i},
            "closed_given": "NULL::timestamptz",
            "channel": "touch.channel",
            "campaign_id": "touch.campaign_id",
            "touch_problem": "touch.problem",
            **dict.fromkeys(UTM_FIELDS, "''"),
            "cta": "''",
            "landing_page": "''",
        }

    def problems(self) -> list[str]:
        v = self.v
        return [
            "lifecycle.problem",
            _email_problem(v("Email"), "Email"),
            *_date_problems(self, self.date_columns),
            "reach_problem",
            _limit(v("Record ID"), "Record ID", 100),
            _limit(v("First Name"), "First Name", 100),
            _limit(v("Last Name"), "Last Name", 100),
            _limit(v("Job Title"), "Job Title", 200),
            _limit(v("Company Name"), "Company Name", 200),
            _limit(v("Industry"), "Industry", 100),
            "employees.problem",
            "country.problem",
        ]

    def closed_at(self) -> str:
        """An Other contact's export has no date for leaving the funnel: the latest it has."""
        return "CASE WHEN stage IN ('won', 'disqualified') THEN latest END"

    def closed_problems(self) -> list[str]:
        return []


class ProductCsv(Format):
    name = "csv"
    required, optional = product_csv.REQUIRED, product_csv.OPTIONAL
    date_columns = (*product_csv.DATE_COLUMNS.values(), "created_at", "closed_at")
    owner_column = "owner"
    entry_columns = {str(s): c for s, c in product_csv._ENTRY_COLUMNS.items()}

    def lookups(self) -> list[Lookup]:
        def stage(keys):
            for (value,) in keys:
                stage_value = value.lower() or Stage.LEAD
                if stage_value not in Stage.values:
                    yield (
                        (value,),
                        (
                            None,
                            f"stage: '{stage_value}' is not a stage "
                            f"(use one of {', '.join(Stage)})",
                        ),
                    )
                else:
                    yield (value,), (stage_value, None)

        def amount(keys):
            for (value,) in keys:
                try:
                    yield (value,), (parse_amount(value, "deal_amount"), None)
                except RowError as exc:
                    yield (value,), (None, str(exc))

        def touch(keys):
            for key in keys:
                campaign_value, channel_value, *utm_values = key
                channel = channel_value.lower()
                if channel and channel not in Channel.values:
                    problem = (
                        f"channel: '{channel}' is not a channel (use one of {', '.join(Channel)})"
                    )
                    yield key, (problem, None, None, None)
                    continue
                campaign = None
                if campaign_value:
                    campaign = self.campaigns.get(campaign_value.lower())
                    if campaign is None:
                        problem = f"campaign: no campaign with UTM campaign '{campaign_value}'"
                        yield key, (None, None, None, problem)
                        continue
                resolved = touch_resolve(
                    utm=dict(zip(UTM_FIELDS, utm_values, strict=True)),
                    campaign=campaign,
                    channel=channel or None,
                    campaigns_by_utm=self.campaigns,
                )
                campaign_id = resolved.campaign.pk if resolved.campaign else None
                yield key, (None, resolved.channel, campaign_id, None)

        return [
            Lookup("stage", ("stage",), (("stage", "text"), ("problem", "text")), stage),
            Lookup(
                "amount", ("deal_amount",), (("amount", "numeric"), ("problem", "text")), amount
            ),
            Lookup(
                "touch",
                ("campaign", "channel", *UTM_FIELDS),
                (
                    ("channel_problem", "text"),
                    ("channel", "text"),
                    ("campaign_id", "bigint"),
                    ("problem", "text"),
                ),
                touch,
            ),
            _count_lookup("employees"),
            _country_lookup("country"),
            self.owner_lookup(),
        ]

    def values(self) -> dict[str, str]:
        v = self.v
        external = v("external_id")
        reason = v("exit_reason")
        return {
            "skip": "false",
            "email": v("email"),
            "ext": f"CASE WHEN {external} <> '' THEN 'csv:' || {external} ELSE '' END",
            "first_name": v("first_name"),
            "last_name": v("last_name"),
            "phone": v("phone"),
            "job_title": v("job_title"),
            "company": v("company"),
            "company_domain": f"lower({v('company_domain')})",
            "industry": v("industry"),
            "employees": "employees.n",
            "country": "COALESCE(country.code, '')",
            "owner_id": "owner.id",
            "owner_problem": "owner.problem",
            "stage": "stage.stage",
            "exit_reason": (
                f"CASE WHEN stage.stage IN ('lost', 'disqualified') THEN {reason} ELSE '' END"
            ),
            "deal_amount": "amount.amount",
            "own0": f"COALESCE({self.at('became_lead_at')}, {self.at('created_at')})",
            **{f"own{i}": self.at(REACHED_FIELD[s]) for i, s in enumerate(FUNNEL) if i},
            "closed_given": self.at("closed_at"),
            "closed_parse_problem": _date_problems(self, ["closed_at"])[0],
            "channel": "touch.channel",
            "campaign_id": "touch.campaign_id",
            "touch_problem": "touch.problem",
            **{f: v(f) for f in UTM_FIELDS},
            "cta": v("cta"),
            "landing_page": v("landing_page"),
        }

    def problems(self) -> list[str]:
        v = self.v
        stage_label = " ".join(
            f"WHEN stage.stage = {lit(s)} "
            f"THEN {lit(f'exit_reason: a {Stage(s).label.lower()} lead needs a reason')}"
            for s in EXIT_STAGES
        )
        created = _date_problems(self, ["created_at"])[0]
        return [
            _email_problem(v("email"), "email"),
            "stage.problem",
            _limit(v("exit_reason"), "exit_reason", 500),
            f"CASE WHEN {v('exit_reason')} = '' THEN CASE {stage_label} END END",
            *_date_problems(self, product_csv.DATE_COLUMNS.values()),
            f"CASE WHEN {v('became_lead_at')} = '' THEN {created} END",
            "reach_problem",
            "closed_problem",
            "touch.channel_problem",
            _limit(v("external_id"), "external_id", 100),
            _limit(v("first_name"), "first_name", 100),
            _limit(v("last_name"), "last_name", 100),
            _limit(v("phone"), "phone", 50),
            _limit(v("job_title"), "job_title", 200),
            _limit(v("company"), "company", 200),
            _limit(f"lower({v('company_domain')})", "company_domain", 253),
            _limit(v("industry"), "industry", 100),
            "employees.problem",
            "country.problem",
            "amount.problem",
            *(_limit(v(f), f, 200) for f in UTM_FIELDS),
            _limit(v("cta"), "cta", 200),
            _limit(v("landing_page"), "landing_page", 500),
        ]

    def closed_at(self) -> str:
        return (
            "CASE WHEN stage = 'won' THEN r4 "
            "WHEN stage IN ('lost', 'disqualified') THEN COALESCE(closed_given, latest) END"
        )

    def closed_problems(self) -> list[str]:
        # A closing date before the last stage reached: Python words the message (its dates keep
        # the offsets they were written with).
        return [
            "CASE WHEN stage IN ('won', 'lost', 'disqualified') THEN closed_parse_problem END",
            f"CASE WHEN stage IN ('lost', 'disqualified') AND closed_given < latest "
            f"THEN {lit(TO_PYTHON)} END",
        ]


FORMATS = {"hubspot": HubSpot, "csv": ProductCsv}


# --- the engine ---------------------------------------------------------------------------------


def sql_import(*, cells, header, report, actor, progress: Progress, now: datetime) -> list[int]:
    """Import the rows `cells` yields ((line, cells) pairs, see `service._cells`) and return the
    ids of the leads created or changed. Runs inside the caller's transaction."""
    fmt = FORMATS[report.format](header, now)
    with connection.cursor() as cursor:
        run = _Run(cursor, fmt, header, report, actor, progress, now)
        return run.go(cells)


class _Run:
    def __init__(self, cursor, fmt: Format, header, report, actor, progress, now):
        self.cursor, self.fmt, self.header = cursor, fmt, header
        self.report, self.actor, self.progress, self.now = report, actor, progress, now
        self.params = {
            "ws": WHITESPACE,
            "now": now,
            "fast_email": FAST_EMAIL,
            "tz": timezone.get_default_timezone_name(),
        }

    def sql(self, statement: str, params: dict | None = None):
        self.cursor.execute(statement, {**self.params, **(params or {})})
        return self.cursor

    def go(self, cells) -> list[int]:
        self._temp_tables()
        self._stage(cells)
        self._lookups()
        self._parse()
        self.progress("match", 0, self.report.rows)
        self._classify()
        self.progress("match", self.report.rows, self.report.rows)
        self._accounts(first_pass=True)
        changed = self._python_rows()
        self._accounts(first_pass=False)
        changed += self._write()
        self.sql(
            "DROP TABLE IF EXISTS imp_raw, imp_row, imp_cls, "
            "imp_acc, imp_new, imp_upd"
            + "".join(f", imp_l_{lookup.name}" for lookup in self.fmt.lookups())
        )
        return changed

    # --- 1. stage -----------------------------------------------------------------------------

    def _temp_tables(self) -> None:
        columns = ", ".join(f"{c} text" for c in self.fmt.raw.values())
        # For this transaction: no JIT (compiling these one-off statements costs more than it
        # saves), and room to sort and hash the file in memory.
        self.sql(
            # (Not temp_buffers: PostgreSQL refuses to change it once a session has used a
            # temporary table, which would fail the second import on one connection.)
            "SET LOCAL jit = off; SET LOCAL work_mem = '64MB'; "
            "DROP TABLE IF EXISTS imp_raw, imp_row, imp_cls, imp_acc, imp_new, imp_upd; "
            f"CREATE TEMP TABLE imp_raw (line integer PRIMARY KEY, {columns}) ON COMMIT DROP"
        )

    def _stage(self, cells) -> None:
        fmt = self.fmt
        indexes = [self.header.index(c) for c in fmt.present]
        width = len(self.header)
        pick = (
            operator.itemgetter(*indexes) if len(indexes) > 1 else (lambda row: (row[indexes[0]],))
        )
        names = ", ".join(fmt.raw.values())
        statement = (
            f"COPY imp_raw (line, {names}) FROM STDIN (FORMAT csv, FORCE_NOT_NULL ({names}))"
        )
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        pending = 0
        for line, row in cells:
            if len(row) < width:
                row = row + [""] * (width - len(row))
            writer.writerow((line, *pick(row)))
            pending += 1
            if pending == COPY_CHUNK:
                self._copy(statement, buffer)
                buffer, pending = io.StringIO(), 0
                writer = csv.writer(buffer, lineterminator="\n")
        self._copy(statement, buffer)

    def _copy(self, statement: str, buffer: io.StringIO) -> None:
        data = buffer.getvalue()
        if data:
            with self.cursor.cursor.copy(statement) as copy:
                copy.write(data)

    # --- 2. parse -----------------------------------------------------------------------------

    def _trimmed(self, column: str) -> str:
        raw = self.fmt.raw.get(column)
        return f"btrim({raw}, %(ws)s)" if raw else "''::text"

    def _lookups(self) -> None:
        """Fill the lookup tables, the date and email fallbacks, from the distinct cells."""
        for lookup in self.fmt.lookups():
            keys = ", ".join(self._trimmed(c) for c in lookup.keys)
            rows = self.sql(f"SELECT DISTINCT {keys} FROM imp_raw").fetchall()
            table = f"imp_l_{lookup.name}"
            key_columns = ", ".join(f"k{i} text" for i in range(len(lookup.keys)))
            outputs = ", ".join(f"{name} {kind}" for name, kind in lookup.outputs)
            self.sql(
                f"DROP TABLE IF EXISTS {table}; "
                f"CREATE TEMP TABLE {table} ({key_columns}, {outputs}) ON COMMIT DROP"
            )
            self._fill(table, ((*key, *out) for key, out in lookup.compute(rows)))


    def _fill(self, table: str, rows: Iterable[tuple]) -> None:
        rows = list(rows)  # computing them may query the database: not while COPY runs
        with self.cursor.cursor.copy(f"COPY {table} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def _parse(self) -> None:
        fmt = self.fmt
        trimmed = ", ".join(
            f"btrim({raw}, %(ws)s) AS v{i}" for i, raw in enumerate(fmt.raw.values())
        )
        dates = ", ".join(
            f"{_date_value(fmt.v(c))} AS {fmt.at(c)}" for c in fmt.date_columns if c in fmt.raw
        )
        joins = " ".join(
            f"LEFT JOIN imp_l_{lookup.name} {lookup.name} ON "
            + " AND ".join(f"{lookup.name}.k{i} = {fmt.v(c)}" for i, c in enumerate(lookup.keys))
            for lookup in fmt.lookups()
        )
        values = ", ".join(f"{expr} AS {name}" for name, expr in fmt.values().items())
        problems = ", ".join(f"{p} AS p{i}" for i, p in enumerate(fmt.problems()))
        # Level 1: trimmed cells; level 2: dates; level 3: values, lookups and checks.
        parsed = f"""
            SELECT line, {values}, {problems}
            FROM (
                SELECT *, {dates or "NULL AS no_dates"}
                FROM (SELECT line, {trimmed} FROM imp_raw OFFSET 0) cells
                OFFSET 0
            ) r
            {joins}
            OFFSET 0
            """.replace("reach_problem", "NULL::text").replace("closed_problem", "NULL::text")
        # The problems that need the first-reached dates are computed on the next level; the
        # ones before them in the order stay where they are.
        count = len(fmt.problems())
        order = fmt.problems()
        chain = []
        for i, p in enumerate(order):
            if p == "reach_problem":
                chain.append("reach_problem")
            elif p == "closed_problem":
                chain.extend(f"({c})" for c in fmt.closed_problems())
            else:
                chain.append(f"p{i}")
        assert count == len(order)
        stages = stage_array()
        exits = []
        for exit_stage in EXIT_STAGES:
            for last, stage in enumerate(FUNNEL):
                if stage not in EXIT_FROM[exit_stage]:
                    label = Stage(exit_stage).label.lower()
                    allowed = ", ".join(Stage(s).label for s in EXIT_FROM[exit_stage])
                    message = (
                        f"{fmt.entry_columns[stage]}: a {label} lead cannot have reached "
                        f"{stage.label}; it is marked {label} only from {allowed}"
                    )
                    exits.append(
                        f"WHEN stage = {lit(exit_stage)} AND last = {last} THEN {lit(message)}"
                    )
        missing = f"{fmt.entry_columns['lead']}: missing, so the lead has no creation date"
        earliest = ", ".join(
            f"LEAST({', '.join(f'own{j}' for j in range(i, 5))}) AS e{i}" for i in range(5)
        )
        reached = ", ".join(
            f"CASE WHEN last >= {i} THEN COALESCE({_down_from(i)}) END AS r{i}"
            for i in range(len(FUNNEL))
        )
        self.sql(
            f"""
            CREATE TEMP TABLE imp_row ON COMMIT DROP AS
            SELECT *, lower(email) AS key_email, lower(company) AS key_company,
                   COALESCE({", ".join(chain)}) AS error
            FROM (
                SELECT *, {fmt.closed_at()} AS closed_at,
                       CASE {" ".join(exits)} WHEN e0 IS NULL THEN {lit(missing)} END
                           AS reach_problem
                FROM (
                    SELECT *, {reached},
                           GREATEST(e0, e1, e2, e3, e4) FILTER_LATEST
                    FROM (
                        SELECT *,
                            {earliest},
                            CASE WHEN array_position({stages}, stage) IS NOT NULL
                                 THEN array_position({stages}, stage) - 1
                                 ELSE GREATEST(
                                     CASE WHEN stage = 'lost' THEN 2 ELSE 0 END,
                                     CASE WHEN own4 IS NOT NULL THEN 4 WHEN own3 IS NOT NULL THEN 3
                                          WHEN own2 IS NOT NULL THEN 2 WHEN own1 IS NOT NULL THEN 1
                                          ELSE 0 END)
                            END AS last
                        FROM ({parsed}) parsed
                    ) e
                ) r
            ) c
            """.replace(
                "GREATEST(e0, e1, e2, e3, e4) FILTER_LATEST",
                "CASE last "
                + " ".join(
                    f"WHEN {i} THEN COALESCE({_down_from(i)})"
                    for i in range(5)
                )
                + " END AS latest",
            )
        )

    # --- 3. classify --------------------------------------------------------------------------

    def _classify(self) -> None:
        lead = connection.ops.quote_name(Lead._meta.db_table)
        # `hits`: how many rows name each existing lead, by email or by id.
        self.sql(
            f"""
            CREATE TEMP TABLE imp_cls ON COMMIT DROP AS
            WITH base AS MATERIALIZED (
                SELECT r.line, r.ext, r.error IS NOT DISTINCT FROM {lit(TO_PYTHON)} AS py,
                       m.id AS by_email, x.id AS by_ext, m.external_id AS lead_ext,
                       count(*) OVER (PARTITION BY r.key_email) AS n_email,
                       CASE WHEN r.ext = '' THEN 1 ELSE count(*) OVER (PARTITION BY r.ext) END
                           AS n_ext
                FROM imp_row r
                LEFT JOIN {lead} m ON lower(m.email) = r.key_email
                LEFT JOIN {lead} x ON r.ext <> '' AND x.external_id = r.ext
                WHERE NOT r.skip AND (r.error IS NULL OR r.error = {lit(TO_PYTHON)})
            ), hits AS (
                SELECT lead_id, count(DISTINCT line) AS n FROM (
                    SELECT line, by_email AS lead_id FROM base WHERE by_email IS NOT NULL
                    UNION ALL
                    SELECT line, by_ext FROM base WHERE by_ext IS NOT NULL
                ) h GROUP BY lead_id
            )
            SELECT b.*, COALESCE(
                NOT b.py AND b.n_email = 1 AND b.n_ext = 1
                AND (b.by_ext IS NULL OR b.by_ext = b.by_email)
                AND (b.by_email IS NULL OR (
                    h.n = 1 AND (b.by_ext IS NOT NULL OR b.lead_ext = '' OR b.ext = ''))),
                false) AS eligible
            FROM base b LEFT JOIN hits h ON h.lead_id = b.by_email
            """
        )
        # A row this engine settles can still fail on its owner or its campaign: the checks the
        # row-by-row engine makes when it folds a row, in its order.
        self.sql(
            """
            UPDATE imp_row r SET error = COALESCE(r.owner_problem, r.touch_problem)
            FROM imp_cls c
            WHERE c.line = r.line AND c.eligible
              AND (r.owner_problem IS NOT NULL OR r.touch_problem IS NOT NULL)
            """
        )
        self.sql(
            "UPDATE imp_cls c SET eligible = false FROM imp_row r "
            "WHERE r.line = c.line AND c.eligible AND r.error IS NOT NULL"
        )
        # Lock the existing leads this engine changes, in id order as every writer does.
        self.sql(
            f"SELECT id FROM {lead} WHERE id IN "
            "(SELECT by_email FROM imp_cls WHERE eligible AND by_email IS NOT NULL) "
            "ORDER BY id FOR UPDATE"
        )
        counts = self.sql(
            f"""
            SELECT count(*) FILTER (WHERE skip),
                   count(*) FILTER (WHERE NOT skip AND error IS NOT NULL
                                    AND error <> {lit(TO_PYTHON)})
            FROM imp_row
            """
        ).fetchone()
        self.report.skipped += counts[0]
        if counts[1]:
            self.report.rejected.extend(
                self.sql(
                    f"SELECT line, error FROM imp_row WHERE NOT skip AND error IS NOT NULL "
                    f"AND error <> {lit(TO_PYTHON)}"
                ).fetchall()
            )

    # --- 4. write -----------------------------------------------------------------------------

    def _accounts(self, *, first_pass: bool) -> None:
        """Find the accounts the rows name (`imp_acc`); after the row-by-row engine has run,
        create the ones that still do not exist. A new company is described by the first row
        imported that names it, which only the row-by-row engine can tell (it may reject its
        rows): it gets this engine's first row per new company (`_account_rows`) and creates
        every account its rows or those name. What is left here is named by settled rows only."""
        account = connection.ops.quote_name(Account._meta.db_table)
        if first_pass:
            self.sql(
                "CREATE TEMP TABLE imp_acc (key text PRIMARY KEY, id bigint NOT NULL) "
                "ON COMMIT DROP"
            )
        self.sql(
            f"""
            INSERT INTO imp_acc (key, id)
            SELECT DISTINCT ON (lower(name)) lower(name), id FROM {account}
            WHERE lower(name) IN (SELECT key_company FROM imp_row WHERE key_company <> '')
              AND lower(name) NOT IN (SELECT key FROM imp_acc)
            ORDER BY lower(name), id
            """
        )
        if first_pass:
            return
        wanted = [row[:1] + row[2:] for row in self._first_naming_rows()]
        if not wanted:
            return
        built = [
            account_build(
                name=name, domain=domain, industry=industry, employees=employees, country=country
            )
            for _, name, domain, industry, employees, country in wanted
        ]
        rows_insert(Account, built, now=self.now)
        self._fill("imp_acc", ((key, a.pk) for (key, *_), a in zip(wanted, built, strict=True)))

    def _first_naming_rows(self) -> list[tuple]:
        """(key, line, name, domain, industry, employees, country) of the first settled row
        naming each company that has no account yet."""
        return self.sql(
            """
            SELECT DISTINCT ON (r.key_company) r.key_company, r.line, r.company,
                   r.company_domain, r.industry, r.employees, r.country
            FROM imp_row r JOIN imp_cls c ON c.line = r.line
            WHERE c.eligible AND r.key_company <> ''
              AND r.key_company NOT IN (SELECT key FROM imp_acc)
            ORDER BY r.key_company, r.line
            """
        ).fetchall()

    def _account_rows(self) -> dict[str, ImportRow]:
        """`_first_naming_rows` as the row-by-row engine's rows, by its own key."""
        return {
            fold_case(name): ImportRow(
                line=line, email="", company=name, company_domain=domain, industry=industry,
                employees=employees, country=country,
            )
            for _, line, name, domain, industry, employees, country in self._first_naming_rows()
        }

    def _python_rows(self) -> list[int]:
        """Rows this engine does not settle, folded by the row-by-row engine in file order."""
        from .service import Fold, rows_parse

        raw = self.sql(
            f"""
            SELECT w.line, {", ".join(f"w.{c}" for c in self.fmt.raw.values())}
            FROM imp_raw w JOIN imp_cls c ON c.line = w.line
            WHERE NOT c.eligible
              AND w.line NOT IN (SELECT line FROM imp_row WHERE error IS NOT NULL
                                 AND error <> {lit(TO_PYTHON)})
            ORDER BY w.line
            """
        ).fetchall()
        if not raw:
            return []
        present = self.fmt.present
        cells = ((line, [c or "" for c in values]) for line, *values in sorted(raw))
        rows = rows_parse(cells, header=present, report=self.report, now=self.now)
        fold = Fold(
            rows, self.report, self.actor, lambda *a: None, account_rows=self._account_rows()
        )
        return fold.run()

    def _write(self) -> list[int]:
        lead = connection.ops.quote_name(Lead._meta.db_table)
        transition = connection.ops.quote_name(StageTransition._meta.db_table)
        quote = connection.ops.quote_name
        total = self.sql("SELECT count(*) FROM imp_cls WHERE eligible").fetchone()[0]
        self.progress("write", 0, total)

        # New leads: ids in file order.
        self.sql(
            f"""
            CREATE TEMP TABLE imp_new ON COMMIT DROP AS
            SELECT nextval(pg_get_serial_sequence({lit(lead)}, 'id')) AS id, line
            FROM (SELECT c.line FROM imp_cls c
                  WHERE c.eligible AND c.by_email IS NULL ORDER BY c.line) n
            """
        )
        set_here = {
            "email": "r.email",
            "external_id": "r.ext",
            "first_name": "r.first_name",
            "last_name": "r.last_name",
            "phone": "r.phone",
            "job_title": "r.job_title",
            "account_id": "a.id",
            "owner_id": "r.owner_id",
            "stage": "r.stage",
            "first_touch_channel": "r.channel",
            "first_touch_campaign_id": "r.campaign_id",
            "last_touch_channel": "r.channel",
            "last_touch_campaign_id": "r.campaign_id",
            "last_touch_at": "r.r0",
            **{f: f"r.{f}" for f in UTM_FIELDS},
            "cta": "r.cta",
            "landing_page": "r.landing_page",
            **{REACHED_FIELD[s]: f"r.r{i}" for i, s in enumerate(FUNNEL)},
            "closed_at": "r.closed_at",
            "exit_reason": "r.exit_reason",
            "deal_amount": "r.deal_amount",
            "created_at": "%(now)s",
            "updated_at": "%(now)s",
        }
        columns, exprs, defaults = ["id"], ["n.id"], {}
        for f in Lead._meta.concrete_fields:
            if f.primary_key:
                continue
            columns.append(quote(f.column))
            if f.attname in set_here:
                exprs.append(set_here[f.attname])
            else:
                defaults[f"d_{f.attname}"] = f.get_db_prep_save(f.get_default(), connection)
                exprs.append(f"%(d_{f.attname})s")
        self.sql(
            f"""
            INSERT INTO {lead} ({", ".join(columns)})
            SELECT {", ".join(exprs)}
            FROM imp_new n JOIN imp_row r ON r.line = n.line
            LEFT JOIN imp_acc a ON a.key = r.key_company AND r.key_company <> ''
            ORDER BY n.id
            """,
            defaults,
        )
        created = self.sql("SELECT count(*) FROM imp_new").fetchone()[0]
        self.report.created += created

        # Changed leads: the row-by-row engine's _apply and _advance, as one statement.
        stages = stage_array()
        dates = [REACHED_FIELD[s] for s in FUNNEL]
        advanced = ", ".join(
            f"CASE WHEN NOT terminal AND {i} > cur AND {i} <= r_last THEN COALESCE(d{i}, r{i}) "
            f"ELSE d{i} END AS n{i}"
            for i in range(5)
        )
        earlier = ", ".join(
            f"CASE WHEN l.{d} IS NOT NULL AND r.r{i} < l.{d} THEN r.r{i} ELSE l.{d} END AS d{i}"
            for i, d in enumerate(dates)
        )
        self.sql(
            f"""
            CREATE TEMP TABLE imp_upd ON COMMIT DROP AS
            SELECT u.*,
                CASE WHEN terminal THEN o_stage
                     WHEN exit_move THEN r_stage
                     ELSE {stages}[top + 1] END AS stage,
                CASE WHEN terminal THEN closed_fixed
                     WHEN top = 4 THEN n4
                     WHEN exit_move THEN GREATEST(r_closed, CASE top
                        WHEN 0 THEN n0 WHEN 1 THEN GREATEST(n0, n1)
                        WHEN 2 THEN GREATEST(n0, n1, n2) WHEN 3 THEN GREATEST(n0, n1, n2, n3)
                        END)
                     ELSE o_closed END AS closed_at,
                CASE WHEN terminal THEN o_reason WHEN top = 4 THEN ''
                     WHEN exit_move THEN r_reason ELSE o_reason END AS exit_reason
            FROM (
                SELECT m.*,
                    {advanced},
                    NOT terminal AND r_stage IN ('lost', 'disqualified') AND (
                        (r_stage = 'lost' AND top IN (2, 3))
                        OR (r_stage = 'disqualified' AND top IN (0, 1, 2))) AS exit_move
                FROM (
                    SELECT l.id, c.line, l.stage AS o_stage, l.closed_at AS o_closed,
                        l.exit_reason AS o_reason,
                        {", ".join(f"l.{d} AS o{i}" for i, d in enumerate(dates))},
                        {", ".join(f"r.r{i}" for i in range(5))}, r.last AS r_last,
                        r.stage AS r_stage, r.closed_at AS r_closed, r.exit_reason AS r_reason,
                        l.stage IN ('won', 'lost', 'disqualified') AS terminal,
                        array_position({stages}, l.stage) - 1 AS cur,
                        GREATEST(array_position({stages}, l.stage) - 1, r.last) AS top,
                        {earlier},
                        CASE WHEN l.stage = 'won' AND l.became_won_at IS NOT NULL
                                  AND l.closed_at = l.became_won_at
                             THEN CASE WHEN l.became_won_at IS NOT NULL AND r.r4 < l.became_won_at
                                       THEN r.r4 ELSE l.became_won_at END
                             ELSE l.closed_at END AS closed_fixed,
                        l.first_name AS o_first_name, l.last_name AS o_last_name,
                        l.phone AS o_phone, l.job_title AS o_job_title,
                        l.external_id AS o_external_id, l.owner_id AS o_owner_id,
                        l.deal_amount AS o_deal_amount, l.account_id AS o_account_id,
                        CASE WHEN r.first_name <> '' THEN r.first_name ELSE l.first_name END
                            AS first_name,
                        CASE WHEN r.last_name <> '' THEN r.last_name ELSE l.last_name END
                            AS last_name,
                        CASE WHEN r.phone <> '' THEN r.phone ELSE l.phone END AS phone,
                        CASE WHEN r.job_title <> '' THEN r.job_title ELSE l.job_title END
                            AS job_title,
                        CASE WHEN r.ext <> '' AND l.external_id = '' THEN r.ext
                             ELSE l.external_id END AS external_id,
                        COALESCE(r.owner_id, l.owner_id) AS owner_id,
                        COALESCE(r.deal_amount, l.deal_amount) AS deal_amount,
                        CASE WHEN r.key_company <> ''
                                  AND r.key_company IS DISTINCT FROM lower(la.name)
                             THEN a.id ELSE l.account_id END AS account_id
                    FROM imp_cls c
                    JOIN imp_row r ON r.line = c.line
                    JOIN {lead} l ON l.id = c.by_email
                    LEFT JOIN {quote(Account._meta.db_table)} la ON la.id = l.account_id
                    LEFT JOIN imp_acc a ON a.key = r.key_company AND r.key_company <> ''
                    WHERE c.eligible
                ) m
            ) u
            """
        )
        self.sql(
            """
            ALTER TABLE imp_upd ADD COLUMN changed boolean;
            UPDATE imp_upd SET changed = (
                first_name, last_name, phone, job_title, external_id, owner_id, deal_amount,
                account_id, stage, n0, n1, n2, n3, n4, closed_at, exit_reason
            ) IS DISTINCT FROM (
                o_first_name, o_last_name, o_phone, o_job_title, o_external_id, o_owner_id,
                o_deal_amount, o_account_id, o_stage, o0, o1, o2, o3, o4, o_closed, o_reason
            );
            """
        )
        assignments = (
            ", ".join(
                f"{quote(f)} = u.{f}"
                for f in (
                    "first_name",
                    "last_name",
                    "phone",
                    "job_title",
                    "external_id",
                    "owner_id",
                    "deal_amount",
                    "account_id",
                    "stage",
                    "closed_at",
                    "exit_reason",
                )
            )
            + ", "
            + ", ".join(f"{d} = u.n{i}" for i, d in enumerate(dates))
        )
        self.sql(
            f"""
            UPDATE {lead} l SET {assignments}, version = l.version + 1, updated_at = %(now)s
            FROM imp_upd u WHERE l.id = u.id AND u.changed
            """
        )
        updated, unchanged = self.sql(
            "SELECT count(*) FILTER (WHERE changed), count(*) FILTER (WHERE NOT changed) "
            "FROM imp_upd"
        ).fetchone()
        self.report.updated += updated
        self.report.unchanged += unchanged

        # One transition per stage reached, at its first-reached time; an exit at closed_at.
        fields = actor_fields(self.actor)
        actor_user = fields["actor_user"].pk if fields["actor_user"] is not None else None
        self.sql(
            f"""
            INSERT INTO {transition}
                (lead_id, from_stage, to_stage, at, actor_user_id, actor_system, note, reason,
                 created_at)
            SELECT lead_id, from_stage, to_stage, at, %(actor_user)s, %(actor_system)s, '',
                   reason, %(now)s
            FROM (
                SELECT n.id AS lead_id, i AS step,
                       CASE WHEN i = 0 THEN '' ELSE {stages}[i] END AS from_stage,
                       {stages}[i + 1] AS to_stage,
                       (ARRAY[r.r0, r.r1, r.r2, r.r3, r.r4])[i + 1] AS at, '' AS reason
                FROM imp_new n JOIN imp_row r ON r.line = n.line,
                     generate_series(0, r.last) i
                UNION ALL
                SELECT n.id, 5, {stages}[r.last + 1], r.stage, r.closed_at, r.exit_reason
                FROM imp_new n JOIN imp_row r ON r.line = n.line
                WHERE r.stage IN ('lost', 'disqualified')
                UNION ALL
                SELECT u.id, i, {stages}[i], {stages}[i + 1],
                       (ARRAY[u.n0, u.n1, u.n2, u.n3, u.n4])[i + 1], ''
                FROM imp_upd u, generate_series(u.cur + 1, u.top) i
                WHERE u.changed AND NOT u.terminal
                UNION ALL
                SELECT u.id, 5, {stages}[u.top + 1], u.stage, u.closed_at, u.exit_reason
                FROM imp_upd u WHERE u.changed AND u.exit_move
            ) moves
            ORDER BY lead_id, step
            """,
            {"actor_user": actor_user, "actor_system": fields["actor_system"]},
        )
        # The KPI snapshot days these leads were, and now are, counted on.
        days = self.sql(
            """
            SELECT DISTINCT (t AT TIME ZONE %(tz)s)::date FROM (
                SELECT unnest(ARRAY[r.r0, r.r1, r.r2, r.r3, r.r4]) AS t
                FROM imp_new n JOIN imp_row r ON r.line = n.line
                UNION ALL
                SELECT unnest(ARRAY[o0, o1, o2, o3, o4, n0, n1, n2, n3, n4])
                FROM imp_upd WHERE changed
            ) moved WHERE t IS NOT NULL
            """
        ).fetchall()
        kpis_mark_dirty(day for (day,) in days)
        self.progress("write", total, total)
        ids = self.sql(
            "SELECT id FROM imp_new UNION ALL SELECT id FROM imp_upd WHERE changed"
        ).fetchall()
        return [i for (i,) in ids]


def _down_from(i: int) -> str:
    """e{i}, e{i-1}, ..., e0: the COALESCE that gives a stage the latest date before it."""
    return ", ".join(f"e{j}" for j in range(i, -1, -1))


def _fast_date(v: str) -> str:
    """SQL: `v` has one of the shapes SQL reads itself, every field in range, and names a real
    day. Python's fromisoformat reads all of these the same way. Year 1 goes to Python, which
    refuses the times before 0001-01-01 UTC (`rows.when_parse`)."""
    year, month, day = f"substr({v}, 1, 4)", f"substr({v}, 6, 2)", f"substr({v}, 9, 2)"
    number = f"{year}::int"
    leap = f"({number} %% 4 = 0 AND ({number} %% 100 <> 0 OR {number} %% 400 = 0))"
    shapes = ", ".join(lit(shape) for shape in (*NAIVE_SHAPES, *AWARE_SHAPES))
    return (
        f"translate({v}, '012345678', '999999999') IN ({shapes}) "
        f"AND {year} > '0001' AND {month} BETWEEN '01' AND '12' AND {day} BETWEEN '01' AND '31' "
        f"AND ({day} <= '28' OR {month} IN ('01', '03', '05', '07', '08', '10', '12') "
        f"OR ({day} <= '30' AND {month} <> '02') OR ({day} = '29' AND {leap})) "
        f"AND (length({v}) = 10 OR (substr({v}, 12, 2) <= '23' AND substr({v}, 15, 2) <= '59')) "
        f"AND (substr({v}, 17, 1) <> ':' OR substr({v}, 18, 2) <= '59') "
        # an offset: at most 14 hours (PostgreSQL's limit is 15:59, Python's 23:59)
        f"AND (substr({v}, length({v}) - 5, 1) NOT IN ('+', '-') "
        f"OR (substr({v}, length({v}) - 4, 2) <= '14' AND right({v}, 2) <= '59'))"
    )


def _date_value(v: str) -> str:
    """SQL: the instant a date cell names; NULL when empty or not in `_fast_date`'s shapes."""
    local = f"({v})::timestamp"
    if timezone.get_default_timezone_name() == "UTC":
        naive = f"({local} AT TIME ZONE 'UTC')"
    else:
        # Python (zoneinfo, fold=0) reads a local time that occurs twice, or not at all, with the
        # offset in force before the clocks changed; PostgreSQL does not always. `before` is that
        # reading: kept when it reads back as the same local time (an ambiguous time) or when
        # PostgreSQL's own does not (a skipped time).
        before = f"(({local} - interval '26 hours') AT TIME ZONE %(tz)s + interval '26 hours')"
        pg = f"({local} AT TIME ZONE %(tz)s)"
        naive = (
            f"(CASE WHEN ({before} AT TIME ZONE %(tz)s) = {local} THEN {before} "
            f"WHEN ({pg} AT TIME ZONE %(tz)s) = {local} THEN {pg} ELSE {before} END)"
        )
    aware = f"({v})::timestamptz"
    return (
        f"CASE WHEN {v} = '' THEN NULL WHEN {_fast_date(v)} THEN "
        f"CASE WHEN length({v}) IN (10, 16, 19) THEN {naive} ELSE {aware} END END"
    )
