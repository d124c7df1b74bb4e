"""The dashboard's tables and KPI tiles, made of cells that carry the raw number (for CSV and
`data-value`), its text in its unit, why it is empty, and its change since the previous period.
The page and the CSV exports read the same tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from leads.stages import FUNNEL, Stage

from .breakdowns import TREND_MEASURES
from .kpis import FIGURES, KPIS, METRIC_MEASURES

CURRENCY = "€"
# A rise is bad news for these: the delta is shown in red.
LOWER_IS_BETTER = {
    "cpl", "cac", "cpc", "bounce_rate", "email_unsubscribe_rate", "customer_churn_rate",
    "sales_cycle_median_days", "sales_cycle_mean_days", "not_interested_rate",
}
FIGURE_MEASURES = {*FIGURES, *METRIC_MEASURES, "acquisition_cost"}
MEASURE_LABELS = {
    "leads": "leads", "visitors": "visitors", "mql": "MQLs", "sql": "SQLs",
    "opportunity": "opportunities", "won": "customers won", "spend": "spend",
    "ctr_num": "clicks", "ctr_den": "impressions", "cpc_num": "spend", "cpc_den": "clicks",
    "landing_page_leads": "landing-page leads", "landing_page_visitors": "landing-page visitors",
    "bounce_num": "bounced sessions", "bounce_den": "sessions", "pages_num": "pageviews",
    "pages_den": "sessions", "time_num": "seconds on site", "time_den": "sessions",
    "engagement_num": "engagements", "engagement_den": "impressions",
    "email_open_num": "unique opens", "email_open_den": "delivered",
    "email_click_num": "unique clicks", "email_click_den": "delivered",
    "email_unsubscribe_num": "unsubscribes", "email_unsubscribe_den": "delivered",
    "enrolments_goal": "reached the goal", "enrolments": "enrolments",
    "mql_engaged": "engaged MQLs", "mql_open": "open MQLs", "replied": "replied",
    "contacted": "contacted", "not_interested": "not interested",
    "acquisition_cost": "acquisition cost", "won_or_lost": "deals closed",
    "cycle_days": "days in total", "customers_churned": "churned",
    "customers_at_start": "customers at the start",
}
MONEY_MEASURES = {"spend", "cpc_num", "acquisition_cost"}

SECTIONS = {
    "lead_mql": ("Lead → MQL in context", ["lead_to_mql", "leads", "mql"]),
    "site": ("Site conversion in context", [
        "visitor_to_lead", "visitors", "leads", "bounce_rate", "ctr", "cpc", "cpl",
        "landing_page_conversion_rate", "pages_per_session", "time_on_site", "engagement_rate",
    ]),
    "nurture": ("Nurture and email", [
        "email_open_rate", "email_ctr", "email_unsubscribe_rate", "workflow_goal_rate",
        "nurture_engagement_rate",
    ]),
    "sales": ("Sales and customers", [
        "mql_to_sql", "sql_to_opportunity", "opportunity_to_won", "win_rate", "response_rate",
        "not_interested_rate", "cac", "sales_cycle_median_days", "sales_cycle_mean_days",
        "customer_churn_rate", "ltv",
    ]),
}


# --- formatting ---------------------------------------------------------------------------------


def format_value(value, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "count":
        return f"{int(value):,}"
    if unit == "ratio":
        return f"{float(value) * 100:,.1f}%"
    if unit == "currency":
        value = float(value)
        return f"{CURRENCY}{value:,.0f}" if abs(value) >= 1000 else f"{CURRENCY}{value:,.2f}"
    if unit == "days":
        return f"{float(value):,.1f} days"
    if unit == "seconds":
        minutes, seconds = divmod(round(float(value)), 60)
        return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"
    return f"{float(value):,.2f}"


def format_delta(current, previous, unit: str, key: str = "") -> tuple[str, str, str]:
    """(text, css class, title) of the change since the previous period: percentage points for
    ratios, percent for the rest. The class says good (up) or bad (down) news."""
    if current is None or previous is None:
        return "", "", ""
    current, previous = float(current), float(previous)
    title = f"previous period: {format_value(previous, unit)}"
    if current == previous:
        return "= 0", "", title
    arrow = "▲" if current > previous else "▼"
    if unit == "ratio":
        text = f"{arrow} {abs(current - previous) * 100:.1f} pp"
    elif previous == 0:
        text = f"{arrow} new"
    else:
        text = f"{arrow} {abs(current - previous) / previous * 100:.0f}%"
    good = (current > previous) != (key in LOWER_IS_BETTER)
    return text, "up" if good else "down", title


def null_reason(key: str, numerator, denominator, *, figures_hidden: bool) -> str:
    kpi = KPIS[key]
    uses_figures = {_base(kpi.numerator), _base(kpi.denominator)} & FIGURE_MEASURES
    if uses_figures and figures_hidden:
        return "no marketing figures for this cut"
    if kpi.denominator and denominator is not None and float(denominator) == 0 and \
            numerator is not None:
        return f"zero denominator (0 {MEASURE_LABELS.get(_base(kpi.denominator), 'in base')})"
    return "no data"


def _base(measure: str | None) -> str | None:
    return measure.removeprefix("cohort_") if measure else measure


def _measure_text(measure: str, value) -> str:
    if measure in MONEY_MEASURES:
        return format_value(value, "currency")
    if isinstance(value, float | Decimal) and float(value) != int(value):
        return f"{float(value):,.1f}"
    return f"{int(value):,}"


def kpi_context(key: str, row: dict) -> str:
    """What a ratio is made of, e.g. "31 MQLs of 94 leads" or "€9,596 spend ÷ 55 leads"."""
    kpi = KPIS[key]
    if not kpi.denominator or key == "ltv":
        return ""
    numerator, denominator = row["numerator"], row["denominator"]
    if numerator is None or denominator is None:
        return ""
    num, den = _base(kpi.numerator), _base(kpi.denominator)
    joiner = "of" if kpi.unit == "ratio" else "÷"
    return (f"{_measure_text(num, numerator)} {MEASURE_LABELS.get(num, num)} {joiner} "
            f"{_measure_text(den, denominator)} {MEASURE_LABELS.get(den, den)}")


# --- cells and tables ---------------------------------------------------------------------------


@dataclass
class Cell:
    raw: object
    text: str
    note: str = ""  # why it is empty
    delta: str = ""
    delta_class: str = ""
    delta_title: str = ""
    numeric: bool = True
    previous: object = None

    @property
    def attr(self) -> str:
        """The raw value as the page's `data-value` holds it (floats at full precision)."""
        return "" if self.raw is None else repr(self.raw) if isinstance(self.raw, float) \
            else str(self.raw)


SHORT_REASONS = {"no marketing figures for this cut": "n/a for this cut"}


def short_reason(reason: str) -> str:
    """A table cell's reason, short enough for a column."""
    if reason.startswith("zero denominator"):
        return "÷ 0"
    return SHORT_REASONS.get(reason, reason)


def kpi_cell(key: str, row: dict, previous: dict | None, *, figures_hidden: bool) -> Cell:
    kpi = KPIS[key]
    value = row["value"]
    cell = Cell(raw=value, text=format_value(value, kpi.unit))
    if value is None:
        cell.note = null_reason(key, row["numerator"], row["denominator"],
                                figures_hidden=figures_hidden)
    if previous is not None:
        cell.previous = previous["value"]
        cell.delta, cell.delta_class, cell.delta_title = format_delta(
            value, previous["value"], kpi.unit, key)
    return cell


def text_cell(text: str) -> Cell:
    return Cell(raw=text, text=text, numeric=False)


@dataclass
class Table:
    name: str
    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    with_previous: bool = False
    export: str = ""  # the export that holds its rows: its own name unless a projection's

    def __post_init__(self):
        self.export = self.export or self.name

    def project(self, keep: list[str], *, name: str, title: str) -> Table:
        """The same rows with only the columns named `keep` (the first column always); its CSV
        is the whole table's."""
        indices = [0, *(self.columns.index(c) for c in keep)]
        return Table(name, title, [self.columns[i] for i in indices],
                     [[row[i] for i in indices] for row in self.rows],
                     with_previous=self.with_previous, export=self.name)

    def csv_rows(self):
        header = []
        for i, column in enumerate(self.columns):
            header.append(column)
            if self.with_previous and i > 0:
                header.append(f"{column} (previous period)")
        yield header
        for row in self.rows:
            out = []
            for i, cell in enumerate(row):
                out.append(_csv_value(cell.raw))
                if self.with_previous and i > 0:
                    out.append(_csv_value(cell.previous))
            yield out


def _csv_value(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return value


def funnel_table(dashboard) -> Table:
    funnel = dashboard.funnel
    table = Table("funnel", "Funnel", ["Stage", "Count", "Step rate"])
    rates = ["visitor_to_lead", "lead_to_mql", "mql_to_sql", "sql_to_opportunity",
             "opportunity_to_won"]
    if funnel["visitors"] is not None:
        table.rows.append([text_cell("Visitors"), Cell(funnel["visitors"],
                                                       format_value(funnel["visitors"], "count")),
                           Cell(None, "", numeric=True)])
    for stage, rate in zip(FUNNEL, rates, strict=True):
        value = funnel["rates"][rate]
        count = funnel["counts"][str(stage)]
        rate_cell = Cell(value, format_value(value, "ratio"))
        if value is None:
            rate_cell.note = "÷ 0"
            if rate == "visitor_to_lead" and dashboard.figures_hidden:
                rate_cell.note = "n/a for this cut"
        if stage == Stage.LEAD and funnel["visitors"] is None:
            rate_cell = Cell(None, "", numeric=True)
        table.rows.append([text_cell(Stage(stage).label), Cell(count, format_value(count, "count")),
                           rate_cell])
    return table


TREND_LABELS = {"leads": "Leads", "mql": "MQLs", "sql": "SQLs", "won": "Customers won"}


def trends_table(dashboard) -> Table:
    trends = dashboard.trends
    table = Table("trends", "Monthly trends",
                  ["Month", *(TREND_LABELS[m] for m in TREND_MEASURES)])
    for i, month in enumerate(trends.months):
        table.rows.append([
            Cell(month.strftime("%Y-%m"), month.strftime("%b %Y"), numeric=False),
            *(Cell(trends.series[m][i], format_value(trends.series[m][i], "count"))
              for m in TREND_MEASURES),
        ])
    return table


BREAKDOWN_COLUMNS = [
    ("visitors", "Visitors"), ("leads", "Leads"), ("mql", "MQLs"), ("sql", "SQLs"),
    ("opportunity", "Opps"), ("won", "Won"), ("visitor_to_lead", "Site conv."),
    ("lead_to_mql", "Lead→MQL"), ("mql_to_sql", "MQL→SQL"),
    ("sql_to_opportunity", "SQL→Opp"), ("opportunity_to_won", "Opp→Won"),
    ("spend", "Spend"), ("cpl", "CPL"), ("cac", "CAC"),
]
CTA_COLUMNS = [("leads", "Leads"), ("mql", "MQLs"), ("lead_to_mql", "Lead→MQL"),
               ("sql", "SQLs"), ("won", "Won")]
BREAKDOWN_TITLES = {"channel": "By channel", "campaign": "By campaign",
                    "cta": "By content/CTA"}


def breakdown_table(dashboard, dimension: str) -> Table:
    rows = {"channel": dashboard.by_channel, "campaign": dashboard.by_campaign,
            "cta": dashboard.by_cta}[dimension]
    columns = CTA_COLUMNS if dimension == "cta" else BREAKDOWN_COLUMNS
    first = {"channel": "Channel", "campaign": "Campaign", "cta": "Content/CTA"}[dimension]
    table = Table(dimension, BREAKDOWN_TITLES[dimension], [first, *(c[1] for c in columns)],
                  with_previous=True)
    for row in rows:
        cells = [text_cell(dashboard.row_label(dimension, row.key))]
        for key, _label in columns:
            if key == "spend":
                cell = Cell(row.spend, format_value(row.spend, "currency"),
                            previous=row.previous_spend)
                if row.spend is None:
                    cell.note = ("no marketing figures for this cut" if dashboard.figures_hidden
                                 else "no data")
                cell.delta, cell.delta_class, cell.delta_title = format_delta(
                    row.spend, row.previous_spend, "currency", "cpl")
            else:
                cell = kpi_cell(key, row.kpis[key], row.previous[key],
                                figures_hidden=dashboard.figures_hidden)
            cell.note = short_reason(cell.note)
            cells.append(cell)
        table.rows.append(cells)
    return table


@dataclass
class Tile:
    key: str
    label: str
    cell: Cell
    context: str
    description: str


def kpi_tile(dashboard, key: str) -> Tile:
    row = dashboard.kpis[key]
    return Tile(
        key=key, label=KPIS[key].label,
        cell=kpi_cell(key, row, dashboard.previous_kpis[key],
                      figures_hidden=dashboard.figures_hidden),
        context=kpi_context(key, row), description=KPIS[key].description,
    )


def section_tiles(dashboard, section: str) -> list[Tile]:
    return [kpi_tile(dashboard, key) for key in SECTIONS[section][1]]


def section_table(dashboard, section: str) -> Table:
    table = Table(section, SECTIONS[section][0], ["KPI", "Value", "Previous period",
                                                   "Numerator", "Denominator", "Unit", "Note"])
    for tile in section_tiles(dashboard, section):
        row = dashboard.kpis[tile.key]
        table.rows.append([
            text_cell(tile.label), tile.cell, Cell(tile.cell.previous, ""),
            Cell(row["numerator"], ""), Cell(row["denominator"], ""),
            text_cell(KPIS[tile.key].unit), text_cell(tile.cell.note),
        ])
    return table


def export_table(dashboard, name: str) -> Table | None:
    """The table an export link names, or None."""
    if name == "funnel":
        return funnel_table(dashboard)
    if name == "trends":
        return trends_table(dashboard)
    if name in BREAKDOWN_TITLES:
        return breakdown_table(dashboard, name)
    if name in SECTIONS:
        return section_table(dashboard, name)
    return None


EXPORTS = ("funnel", "trends", *BREAKDOWN_TITLES, *SECTIONS)
