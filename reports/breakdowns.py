"""KPIs grouped by a dimension or by month, for the reports dashboard, so that a table of many
rows costs a fixed number of queries.

- `breakdown_compute`: per channel, campaign or content/CTA, the funnel counts, stage rates,
  visitors, spend, CPL and CAC of a period and of the period before it, from the registry's
  grouped measures (`reports.kpis.measures_compute_by`: leads and daily metrics, each read once
  for both periods). Each row equals what `kpis_compute` gives for that row's own cut:
  tests/reports/test_dashboard_page.py holds them to it.
- `trends_compute`: leads, MQLs, SQLs and customers won per calendar month, from the month
  snapshots when they cover the months (and say when they were computed), else live in one query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, IntegerField, Q, Value
from django.db.models.functions import Trunc
from django.utils import timezone

from leads.models import Lead
from leads.stages import FUNNEL, REACHED_FIELD, Stage

from .kpis import (
    DIMENSIONS,
    VERSION,
    Cut,
    derived,
    kpi_rows,
    measures_compute_by,
    won_compute,
)
from .models import Dimension, Grain, KPIDirtyDay, KPISnapshot
from .periods import Period, grain_periods, month_start

STAGE_MEASURES = ("leads", "mql", "sql", "opportunity", "won")
# The KPIs of a breakdown row, in column order, and the measures they read.
BREAKDOWN_KPIS = (
    "visitors", "leads", "mql", "sql", "opportunity", "won", "visitor_to_lead", "lead_to_mql",
    "mql_to_sql", "sql_to_opportunity", "opportunity_to_won", "cpl", "cac",
)
BREAKDOWN_MEASURES = (
    *STAGE_MEASURES, *(f"cohort_{s}" for s in FUNNEL[1:]), "lost", "visitors", "spend",
)


@dataclass
class BreakdownRow:
    key: object  # the channel slug, campaign id or CTA text; None: leads without one
    kpis: dict  # key -> the KPI API's row ({"value", "numerator", "denominator", ...})
    previous: dict
    spend: Decimal | None = None
    previous_spend: Decimal | None = None


def breakdown_compute(
    *, period: Period, cut: Cut, scope: Q, dimension: str, mode: str = "period",
    won: tuple[int, int] | None = None,
) -> list[BreakdownRow]:
    """One row per value of `dimension` that has leads or figures in the period or the previous
    one, within `cut` (whose own value for `dimension`, if any, is replaced by each row's).
    Rows are ordered by leads, most first. `won`: customers won in scope in (period, previous
    period), when the caller has counted them already (`kpis.won_compute`)."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}")
    periods = (period, period.previous())
    measures = measures_compute_by(periods=periods, dimension=dimension, cut=cut, scope=scope,
                                   names=BREAKDOWN_MEASURES)
    if won is None:
        won = won_compute(periods=periods, scope=scope)
    rows = []
    for key in sorted(measures, key=lambda k: (k is None, str(k))):
        current, before = measures[key]
        kpis, previous = (
            {r["key"]: r for r in kpi_rows(derived(m, period=p, won_all=w), mode,
                                           only=BREAKDOWN_KPIS)}
            for m, p, w in zip((current, before), periods, won, strict=True)
        )
        rows.append(BreakdownRow(key=key, kpis=kpis, previous=previous,
                                 spend=current["spend"], previous_spend=before["spend"]))
    rows.sort(key=lambda r: (r.key is None, -(r.kpis["leads"]["value"] or 0)))
    return rows


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
