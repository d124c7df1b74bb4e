"""KPIs grouped by a dimension or by month, for the reports dashboard: the registry's measures
(`reports.kpis`) aggregated with GROUP BY, so that a table of many rows costs a fixed number of
queries. Each row equals what `kpis_compute` (or `funnel_compute`) gives for that row's own cut:
tests/reports/test_dashboard_page.py holds them to it.

- `breakdown_compute`: per channel, campaign or content/CTA, the funnel counts, stage rates,
  visitors, spend, CPL and CAC of a period and of the period before it (two queries: leads and
  daily metrics; a third for the customers won when the base cut narrows the leads).
- `trends_compute`: leads, MQLs, SQLs and customers won per calendar month, from the month
  snapshots when they cover the months (and say when they were computed), else live in one query.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, IntegerField, Q, Sum, Value
from django.db.models.functions import Trunc
from django.utils import timezone

from campaigns.models import DailyMetric
from leads.models import Lead
from leads.stages import FUNNEL, REACHED_FIELD, Stage

from .kpis import (
    KPIS,
    VERSION,
    Cut,
    _empty,
    _has_figures,
    _lead_measures,
    _within,
    canonical,
    derived,
    kpi_parts,
    kpi_value,
)
from .models import Dimension, Grain, KPIDirtyDay, KPISnapshot
from .periods import Period, grain_periods, month_start

DIMENSIONS = ("channel", "campaign", "cta")
STAGE_MEASURES = ("leads", "mql", "sql", "opportunity", "won")
# The KPIs of a breakdown row, in column order.
BREAKDOWN_KPIS = (
    "visitors", "leads", "mql", "sql", "opportunity", "won", "visitor_to_lead", "lead_to_mql",
    "mql_to_sql", "sql_to_opportunity", "opportunity_to_won", "cpl", "cac",
)
_LEAD_KEYS = (*STAGE_MEASURES, *(f"cohort_{s}" for s in FUNNEL[1:]), "lost")
_FIGURE_KEYS = ("visitors", "spend")


@dataclass
class BreakdownRow:
    key: object  # the channel slug, campaign id or CTA text; None: leads without one
    kpis: dict  # key -> {"value", "numerator", "denominator"} for BREAKDOWN_KPIS
    previous: dict
    spend: Decimal | None = None
    previous_spend: Decimal | None = None


def _group_field(dimension: str, attribution: str) -> str:
    touch = "first_touch" if attribution == "first" else "last_touch"
    return {"channel": f"{touch}_channel", "campaign": f"{touch}_campaign_id", "cta": "cta"}[
        dimension
    ]


def _row_cut(cut: Cut, dimension: str, key) -> Cut:
    return replace(cut, **{dimension: key})


def _prefixed(aggregates: dict, prefix: str) -> dict:
    return {f"{prefix}{k}": v for k, v in aggregates.items()}


def _lead_aggregates(period: Period) -> dict:
    """The registry's own aggregate expressions for the measures a breakdown shows."""
    measures = _lead_measures(period)
    return {k: measures[k] for k in _LEAD_KEYS}


def _figure_q(cut: Cut, dimension: str) -> Q:
    """Which daily metric rows a row of `dimension` reads: `Cut.metric_q` of each row's cut,
    written once for all of them."""
    if dimension == "campaign":
        q = Q(campaign__isnull=False)
        return q & Q(channel=cut.channel) if cut.channel else q
    # channel rows: the channel's own totals, or the base cut's campaign's rows
    return Q(campaign_id=cut.campaign) if cut.campaign else Q(campaign__isnull=True)


def breakdown_compute(
    *, period: Period, cut: Cut, scope: Q, dimension: str, mode: str = "period",
    won_all: tuple[int | None, int | None] | None = None,
) -> list[BreakdownRow]:
    """One row per value of `dimension` that has leads or figures in the period or the previous
    one, within `cut` (whose own value for `dimension`, if any, is replaced by each row's).
    Rows are ordered by leads, most first. `won_all`: customers won in scope in (period,
    previous period), when the caller has counted them already."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}")
    previous = period.previous()
    group = _group_field(dimension, cut.attribution)
    base = _row_cut(cut, dimension, None)
    both = Period(previous.start, period.end)

    lead_aggregates = {**_lead_aggregates(period), **_prefixed(_lead_aggregates(previous), "p_")}
    touched = Q()
    for stage_field in (*REACHED_FIELD.values(), "closed_at"):
        touched |= _within(stage_field, both)
    leads = Lead.objects.filter(scope, base.lead_q(), touched).order_by()
    counted = {}
    for row in leads.values(group).annotate(**lead_aggregates):
        key = row.pop(group)
        counted[key if key != "" else None] = row  # a blank CTA is no CTA

    figures: dict = {}
    reads_figures = dimension != "cta" and _has_figures(_row_cut(base, dimension, "x"), scope)
    if reads_figures:
        metric_field = "campaign_id" if dimension == "campaign" else "channel"
        aggregates = {}
        for name in _FIGURE_KEYS:
            aggregates[f"f_{name}"] = Sum(name, filter=Q(date__gte=period.start))
            aggregates[f"p_f_{name}"] = Sum(name, filter=Q(date__lt=period.start))
        metrics = DailyMetric.objects.filter(
            _figure_q(base, dimension), date__gte=previous.start, date__lte=period.end
        ).order_by()
        figures = {
            row.pop(metric_field): row
            for row in metrics.values(metric_field).annotate(**aggregates)
        }

    if won_all is None:
        won_all = won_all_compute(period=period, cut=base, scope=scope, counted=counted)
    rows = []
    for key in sorted(set(counted) | set(figures), key=lambda k: (k is None, str(k))):
        lead_row, figure_row = counted.get(key, {}), figures.get(key, {})
        current, before = {}, {}
        for measures, prefix, target in ((lead_row, "", current), (lead_row, "p_", before)):
            target.update(_empty(_lead_aggregates(period)))
            target.update({k: measures[prefix + k] for k in _LEAD_KEYS if prefix + k in measures})
        for name in _FIGURE_KEYS:
            current[name] = figure_row.get(f"f_{name}") if reads_figures else None
            before[name] = figure_row.get(f"p_f_{name}") if reads_figures else None
        current, before = canonical(current), canonical(before)
        rows.append(BreakdownRow(
            key=key,
            kpis=_row_kpis(current, period, won_all[0], mode, key),
            previous=_row_kpis(before, previous, won_all[1], mode, key),
            spend=current["spend"], previous_spend=before["spend"],
        ))
    rows.sort(key=lambda r: (r.key is None, -(r.kpis["leads"]["value"] or 0)))
    return rows


def _row_kpis(measures: dict, period: Period, won_all: int | None, mode: str, key) -> dict:
    out = {}
    measures = derived(measures, period=period, won_all=won_all)
    for name in BREAKDOWN_KPIS:
        kpi = KPIS[name]
        numerator, denominator = kpi_parts(kpi, measures, mode)
        out[name] = {"value": kpi_value(kpi, numerator, denominator), "numerator": numerator,
                     "denominator": denominator}
    return out


def won_all_compute(
    *, period: Period, scope: Q, cut: Cut | None = None, counted: dict | None = None
) -> tuple[int | None, int | None]:
    """Customers won in scope in the period and the one before: `kpis._won_all` of a row's cut,
    which shares the sales cost between cuts. Summed from a breakdown's grouped counts when its
    base cut does not narrow the leads (every lead is in some group), else one query."""
    previous = period.previous()
    if counted is not None and cut == Cut(attribution=cut.attribution):
        return (sum(r["won"] for r in counted.values()), sum(r["p_won"] for r in counted.values()))
    counts = Lead.objects.filter(scope).aggregate(
        now=Count("pk", filter=_within("became_won_at", period)),
        before=Count("pk", filter=_within("became_won_at", previous)),
    )
    return counts["now"], counts["before"]


# --- monthly trends -----------------------------------------------------------------------------

TREND_MEASURES = ("leads", "mql", "sql", "won")


@dataclass
class Trends:
    months: list[date]
    series: dict  # measure -> [count per month]
    source: str  # "snapshots" or "live"
    computed_at: datetime | None = None
    notes: list[str] = field(default_factory=list)


def trend_months(period: Period, *, today: date | None = None, minimum: int = 12) -> list[date]:
    """The calendar months to chart: those the period touches, extended back to `minimum`
    months, and none after the current month."""
    today = today or timezone.localdate()
    last = month_start(min(period.end, today))
    first = month_start(period.start)
    back = last
    for _ in range(minimum - 1):
        back = month_start(back - timedelta(days=1))
    first = min(first, back)
    return [p.start for p in grain_periods(Grain.MONTH, first, last)]


def _snapshot_slice(cut: Cut, scope: Q, user_id: int | None) -> tuple[str, str] | None:
    """The snapshot slice holding exactly this cut's numbers for this reader, or None. Snapshots
    count first-touch attribution, all leads or one channel, campaign or owner."""
    owner = cut.owner
    if scope:  # a reader who sees only their own leads: their owner slice, and nothing else
        if user_id is None or (owner not in (None, user_id)):
            return None
        owner = user_id
    if cut.cta or (cut.attribution != "first" and (cut.channel or cut.campaign)):
        return None
    given = [(d, v) for d, v in (("channel", cut.channel), ("campaign", cut.campaign),
                                 ("owner", owner)) if v]
    if len(given) > 1:
        return None
    if not given:
        return (Dimension.ALL, "")
    return (given[0][0], str(given[0][1]))


def trends_compute(
    *, period: Period, cut: Cut, scope: Q, mode: str = "period", user_id: int | None = None,
    today: date | None = None,
) -> Trends:
    """Leads, MQLs, SQLs and customers won per month. Period mode reads the month snapshots when
    every month has its row of the current definitions and no day of them is waiting for a
    recompute; otherwise, and in cohort mode, it computes them live."""
    months = trend_months(period, today=today)
    if mode == "period":
        trends = _trends_from_snapshots(months, cut, scope, user_id)
        if trends is not None:
            return trends
    return _trends_live(months, cut, scope, mode)


def _trends_from_snapshots(months, cut, scope, user_id) -> Trends | None:
    slice_ = _snapshot_slice(cut, scope, user_id)
    if slice_ is None:
        return None
    dimension, value = slice_
    first = months[0]
    last_month = grain_periods(Grain.MONTH, months[-1], months[-1])[0]
    dirty = KPIDirtyDay.objects.filter(day__gte=first, day__lte=last_month.end).exists()
    if dirty:
        return None
    coverage = Q(metric="leads", dimension=Dimension.ALL, dimension_value="")
    wanted = Q(metric__in=TREND_MEASURES, dimension=dimension, dimension_value=value)
    rows = list(
        KPISnapshot.objects.filter(
            coverage | wanted, grain=Grain.MONTH, version=VERSION,
            period_start__gte=first, period_start__lte=months[-1],
        ).values_list("metric", "dimension", "dimension_value", "period_start", "numerator",
                      "computed_at")
    )
    covered = {r[3] for r in rows if r[0] == "leads" and r[1] == Dimension.ALL}
    if covered != set(months):
        return None
    series = {m: [0] * len(months) for m in TREND_MEASURES}
    index = {m: i for i, m in enumerate(months)}
    used = []
    for metric, dim, val, start, numerator, computed_at in rows:
        if dim == dimension and val == value and metric in series:
            series[metric][index[start]] = int(numerator or 0)
            used.append(computed_at)
    # A campaign or owner slice without rows had no leads: the month's coverage row says so.
    computed_at = max(used or [r[5] for r in rows])
    return Trends(months=months, series=series, source="snapshots", computed_at=computed_at)


def _trends_live(months, cut, scope, mode) -> Trends:
    """One query: a UNION of one GROUP BY month per stage (TruncMonth in TIME_ZONE)."""
    begin, _ = Period(months[0], months[0]).bounds()
    _, after = grain_periods(Grain.MONTH, months[-1], months[-1])[0].bounds()
    tz = timezone.get_default_timezone()
    leads = Lead.objects.filter(scope, cut.lead_q()).order_by()
    parts = []
    for name in TREND_MEASURES:
        stage = Stage.LEAD if name == "leads" else Stage(name)
        reached = REACHED_FIELD[stage]
        if mode == "cohort":  # the month each lead was created in, by the stages reached
            grouped_by, condition = "became_lead_at", Q(**{f"{reached}__isnull": False})
        else:
            grouped_by, condition = reached, Q()
        part = (
            leads.filter(condition, **{f"{grouped_by}__gte": begin, f"{grouped_by}__lt": after})
            .annotate(month=Trunc(grouped_by, "month", tzinfo=tz))
            .values("month")
            .annotate(n=Count("pk"), measure=Value(TREND_MEASURES.index(name),
                                                   output_field=IntegerField()))
            .values_list("month", "n", "measure")
        )
        parts.append(part)
    series = {m: [0] * len(months) for m in TREND_MEASURES}
    index = {m: i for i, m in enumerate(months)}
    for month, n, measure in parts[0].union(*parts[1:], all=True):
        day = _month_day(month, tz)
        if day in index:
            series[TREND_MEASURES[measure]][index[day]] += n
    return Trends(months=months, series=series, source="live")



def _month_day(bucket, tz) -> date:
    """A TruncMonth bucket as the local date it starts on (SQLite may answer a naive value)."""
    if isinstance(bucket, str):
        bucket = datetime.fromisoformat(bucket)
    if isinstance(bucket, datetime):
        return timezone.localtime(bucket, tz).date() if timezone.is_aware(bucket) else bucket.date()
    return bucket
