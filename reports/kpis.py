"""Every KPI, defined once (PRODUCT.md, "KPIs: one definition each"), and computed live as SQL
aggregates. Live reads, snapshots, the API, pages and exports all go through `KPIS` and
`measures_compute`.

A KPI is a **measure**, or a ratio of two. A measure is one SQL aggregate over one source (leads,
daily metrics or nurture enrolments) within a period and a cut. Measures are additive across
periods, except a median, so snapshots keep them and recombine them; the KPI's value is always
`numerator / denominator` computed by `kpi_value`, the same function for live and snapshot
numbers, which therefore agree to the last digit.

Choices PRODUCT.md leaves open, made here and shown in each definition's `source`:
- Cuts by channel and campaign use first-touch attribution (the lead's original source), or last
  touch on request. Marketing figures (visitors, spend, ...) exist per channel and per campaign,
  not per owner or CTA: for those cuts they are null, and so for a reader who sees only their own
  leads (a rep), whose numbers are their owner cut's.
- A lead's "marked not interested" is a disqualification whose reason is "Not interested".
- "Contacted" is a call, meeting or sent email in the period; "replied" a reply in the period.
- A customer is an account with a won lead; it churns on its account's `churned_at`.
- Revenue: a won lead's `deal_amount` is its annual contract value; monthly revenue is a twelfth.
- Gross margin (`KPI_GROSS_MARGIN`) and sales cost per month (`KPI_SALES_COST_PER_MONTH`) are
  settings; CAC adds the sales cost of the period's calendar months to the cut's spend, shared
  between cuts by their share of the customers won. Without spend figures CAC is null.
"""

from __future__ import annotations

import statistics
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Exists, F, FloatField, Func, OuterRef, Q, Sum, Window
from django.db.models.functions import Coalesce, RowNumber

from campaigns.models import DailyMetric, NurtureEnrolment
from leads.models import Activity, ActivityType, Lead
from leads.stages import FUNNEL, REACHED_FIELD, Stage

from .periods import Period

VERSION = 1  # bump when a definition changes: snapshots record the version that computed them
MODES = ("period", "cohort")
ATTRIBUTIONS = ("first", "last")
OUTBOUND = (ActivityType.CALL, ActivityType.MEETING, ActivityType.EMAIL_SENT)
ENGAGEMENT = (
    ActivityType.EMAIL_OPENED, ActivityType.EMAIL_CLICKED, ActivityType.PAGE_VIEW,
    ActivityType.FORM_SUBMITTED,
)
NOT_INTERESTED = "Not interested"
SECONDS_PER_DAY = 86400


@dataclass(frozen=True)
class Cut:
    """Which leads and figures a KPI reads. Empty fields do not narrow."""

    channel: str | None = None
    campaign: int | None = None
    cta: str | None = None
    owner: int | None = None
    attribution: str = "first"

    def lead_q(self, prefix: str = "") -> Q:
        q = Q()
        for name in ("channel", "campaign", "cta", "owner"):
            if value := getattr(self, name):
                q &= Q(**{f"{prefix}{self.lead_field(name)}": value})
        return q

    def lead_field(self, name: str) -> str:
        """The lead field that a cut by `name` (channel, campaign, cta, owner) reads, for this
        cut's attribution."""
        touch = "first_touch" if self.attribution == "first" else "last_touch"
        return {"channel": f"{touch}_channel", "campaign": f"{touch}_campaign_id", "cta": "cta",
                "owner": "owner_id"}[name]

    @property
    def has_figures(self) -> bool:
        """Daily metrics are kept per channel and campaign only."""
        return not self.cta and not self.owner

    def metric_q(self) -> Q:
        if self.campaign:
            q = Q(campaign_id=self.campaign)
            return q & Q(channel=self.channel) if self.channel else q
        q = Q(campaign__isnull=True)  # a channel's own row is its total
        return q & Q(channel=self.channel) if self.channel else q


def _has_figures(cut: Cut, scope: Q) -> bool:
    """Whether marketing figures are read: not for an owner or CTA cut, nor for a reader who sees
    only some leads (`Q()` is every lead), whose ratios would divide company-wide figures by their
    own leads (a rep's CPL over all spend, their site conversion over all visitors)."""
    return cut.has_figures and not scope


# --- measures -----------------------------------------------------------------------------------


class SecondsBetween(Func):
    """Seconds from the second datetime to the first, exact to the microsecond on both databases.
    SQLite's julianday() is a float of days, tens of microseconds off at today's dates: there the
    whole seconds come from it rounded, and the fraction from the stored text."""

    arity = 2
    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="EXTRACT(EPOCH FROM (%(expressions)s))",
            arg_joiner=" - ", **extra,
        )

    def as_sqlite(self, compiler, connection, **extra):
        (later, later_params), (earlier, earlier_params) = (
            compiler.compile(expression) for expression in self.get_source_expressions()
        )

        def whole(sql):
            return f"ROUND((julianday(substr({sql}, 1, 19)) - 2440587.5) * 86400.0)"

        def fraction(sql):
            return f"CAST(substr({sql}, 20) AS REAL)"

        sql = f"(({whole(later)} - {whole(earlier)}) + ({fraction(later)} - {fraction(earlier)}))"
        return sql, (*later_params, *earlier_params, *later_params, *earlier_params)


def _within(field_name: str, period: Period) -> Q:
    begin, after = period.bounds()
    return Q(**{f"{field_name}__gte": begin, f"{field_name}__lt": after})


def _activity(types, period: Period) -> Exists:
    begin, after = period.bounds()
    return Exists(
        Activity.objects.filter(lead=OuterRef("pk"), type__in=types, at__gte=begin, at__lt=after)
    )


def _stage_counts(period: Period, as_of: date | None = None) -> dict:
    """Period mode: leads first reaching each stage in the period. Cohort mode (`cohort_*`): of
    the leads created in the period, those that have reached the stage, by now or by the end of
    the `as_of` day."""
    counts = {}
    for stage in FUNNEL:
        name = "leads" if stage == Stage.LEAD else str(stage)
        field_name = REACHED_FIELD[stage]
        counts[name] = Count("pk", filter=_within(field_name, period))
        if stage != Stage.LEAD:
            reached_by = (
                Q(**{f"{field_name}__isnull": False}) if as_of is None
                else Q(**{f"{field_name}__lt": Period(as_of, as_of).bounds()[1]})
            )
            counts[f"cohort_{stage}"] = Count(
                "pk", filter=_within("became_lead_at", period) & reached_by
            )
    return counts


def _lead_measures(period: Period, as_of: date | None = None) -> dict:
    begin, after = period.bounds()
    contacted = _activity(OUTBOUND, period)
    mql_open = (
        Q(became_mql_at__lt=after)
        & (Q(became_sql_at__isnull=True) | Q(became_sql_at__gte=begin))
        & (Q(closed_at__isnull=True) | Q(closed_at__gte=begin))
    )
    won = _within("became_won_at", period)
    return {
        **_stage_counts(period, as_of),
        "lost": Count("pk", filter=Q(stage=Stage.LOST) & _within("closed_at", period)),
        "landing_page_leads": Count(
            "pk", filter=_within("became_lead_at", period) & ~Q(landing_page="")
        ),
        "cycle_seconds": Sum(SecondsBetween("became_won_at", "became_lead_at"), filter=won),
        "won_amount": Sum("deal_amount", filter=won & Q(deal_amount__isnull=False)),
        "won_with_amount": Count("pk", filter=won & Q(deal_amount__isnull=False)),
        "contacted": Count("pk", filter=contacted),
        "replied": Count("pk", filter=contacted & _activity([ActivityType.REPLY], period)),
        "not_interested": Count(
            "pk",
            filter=contacted
            & Q(stage=Stage.DISQUALIFIED, exit_reason__iexact=NOT_INTERESTED)
            & _within("closed_at", period),
        ),
        "mql_open": Count("pk", filter=mql_open),
        "mql_engaged": Count("pk", filter=mql_open & _activity(ENGAGEMENT, period)),
        "customers_at_start": Count(
            "account",
            distinct=True,
            filter=Q(became_won_at__lt=begin)
            & (Q(account__churned_at__isnull=True) | Q(account__churned_at__gte=begin)),
        ),
        "customers_churned": Count(
            "account",
            distinct=True,
            filter=_within("account__churned_at", period)
            & Q(became_won_at__lt=F("account__churned_at")),
        ),
    }


def _both(part: str, whole: str) -> Q:
    return Q(**{f"{part}__isnull": False, f"{whole}__isnull": False})


# Figures summed as they are (null when no row knows them), and pairs summed over the rows that know
# both, so that a day with clicks but no impressions does not inflate a CTR.
FIGURES = (
    "visitors", "sessions", "pageviews", "bounced_sessions", "time_on_site_seconds",
    "landing_page_visitors", "impressions", "organic_impressions", "clicks", "spend",
    "engagements", "emails_sent", "emails_delivered", "emails_opened", "emails_clicked",
    "emails_unsubscribed",
)
PAIRS = {
    "ctr": ("clicks", "impressions"),
    "cpc": ("spend", "clicks"),
    "bounce": ("bounced_sessions", "sessions"),
    "pages": ("pageviews", "sessions"),
    "time": ("time_on_site_seconds", "sessions"),
    "email_open": ("emails_opened", "emails_delivered"),
    "email_click": ("emails_clicked", "emails_delivered"),
    "email_unsubscribe": ("emails_unsubscribed", "emails_delivered"),
}


def _metric_measures(days: Q | None = None) -> dict:
    """The daily-metric aggregates; `days` narrows each of them (a period of several read at
    once), else the query's own WHERE does."""

    def total(expression, condition: Q | None = None) -> Sum:
        if days is not None:
            condition = days if condition is None else condition & days
        return Sum(expression, filter=condition)

    measures = {name: total(name) for name in FIGURES}
    for key, (part, whole) in PAIRS.items():
        measures[f"{key}_num"] = total(part, _both(part, whole))
        measures[f"{key}_den"] = total(whole, _both(part, whole))
    # Engagements over every impression, paid or organic, on the rows that know engagements.
    measures["engagement_num"] = total("engagements")
    measures["engagement_den"] = total(
        Coalesce("impressions", 0) + Coalesce("organic_impressions", 0),
        Q(engagements__isnull=False),
    )
    return measures


METRIC_MEASURES = tuple(_metric_measures())  # the measures read from daily metrics


def measures_compute(
    *, period: Period, cut: Cut, scope: Q, as_of: date | None = None
) -> dict:
    """Every measure for one period and cut, in three queries (leads, figures, enrolments).
    `scope` is the reader's lead visibility (`leads.selectors.lead_scope`); `as_of`: the day by
    whose end cohort-mode counts are taken (None: by now)."""
    leads = Lead.objects.filter(scope, cut.lead_q()).order_by()
    values = leads.aggregate(**_lead_measures(period, as_of))
    values["cycle_median_days"] = _median_cycle_days(leads, period)

    if _has_figures(cut, scope):
        metrics = DailyMetric.objects.filter(
            cut.metric_q(), date__gte=period.start, date__lte=period.end
        ).order_by()
        # Aliases must not be field names that other aggregates read: prefix, then strip.
        figures = metrics.aggregate(**{f"f_{k}": v for k, v in _metric_measures().items()})
        values.update((k.removeprefix("f_"), v) for k, v in figures.items())
    else:
        values.update(dict.fromkeys(METRIC_MEASURES))

    enrolments = NurtureEnrolment.objects.filter(
        Q(lead__in=leads.values("pk")), _within("entered_at", period)
    ).order_by()
    values.update(enrolments.aggregate(**_enrolment_measures()))
    return canonical(values)


def _enrolment_measures(entered: Q | None = None) -> dict:
    """Nurture enrolments and those that reached the goal; `entered` narrows both (a period of
    several read at once), else the query's own WHERE does."""
    goal = Q(goal_reached_at__isnull=False)
    return {
        "enrolments": Count("pk", filter=entered),
        "enrolments_goal": Count("pk", filter=goal if entered is None else goal & entered),
    }


def _median_cycle_days(leads, period: Period) -> float | None:
    """The median of won leads' days from creation to won. Sorted and picked in SQL: only the one
    or two middle values reach Python."""
    won = leads.filter(_within("became_won_at", period)).annotate(
        cycle=SecondsBetween("became_won_at", "became_lead_at")
    )
    count = won.count()
    if not count:
        return None
    middle = list(
        won.order_by("cycle").values_list("cycle", flat=True)[(count - 1) // 2 : count // 2 + 1]
    )
    return round(statistics.fmean(middle) / SECONDS_PER_DAY, 6)


def canonical(values: dict) -> dict:
    """Measures as stored: counts as ints, money as Decimal cents, seconds to the microsecond.
    Live numbers pass through here too, so that they equal what a snapshot stores."""
    out = {}
    for key, value in values.items():
        if value is None:
            out[key] = None
        elif key in ("spend", "cpc_num", "won_amount") or key.startswith("spend"):
            out[key] = Decimal(value).quantize(Decimal("0.01"))
        elif key in ("cycle_seconds",):
            out[key] = Decimal(str(value)).quantize(Decimal("0.000001"))
        elif key == "cycle_median_days":
            out[key] = value
        else:
            out[key] = int(value)
    return out


# --- the KPIs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KPI:
    key: str
    label: str
    unit: str  # count, ratio, currency, seconds, days, pages
    numerator: str | None  # a measure, or a formula name in FORMULAS
    denominator: str | None = None
    description: str = ""
    source: str = "PRODUCT.md, KPIs"
    cohort: dict = field(default_factory=dict)  # measure -> its cohort-mode measure


def _stage(stage: str) -> str:
    return "leads" if stage == Stage.LEAD else stage


LABELS = {
    Stage.MQL: "MQLs", Stage.SQL: "SQLs", Stage.OPPORTUNITY: "Opportunities",
    Stage.WON: "Customers won",
}
STAGE_RATIOS = [
    KPI(
        f"{a}_to_{b}", f"{Stage(a).label}→{Stage(b).label}", "ratio", _stage(b), _stage(a),
        f"Leads reaching {Stage(b).label} / leads reaching {Stage(a).label}, in the chosen mode.",
        cohort={_stage(b): f"cohort_{b}"} | ({_stage(a): f"cohort_{a}"} if a != "lead" else {}),
    )
    for a, b in zip(FUNNEL, FUNNEL[1:], strict=False)
]

KPIS: dict[str, KPI] = {
    k.key: k
    for k in [
        KPI("leads", "Leads", "count", "leads", description="Leads created in the period."),
        KPI("visitors", "Visitors", "count", "visitors",
            description="Visitors in the daily metrics of the period (null without any)."),
        *[
            KPI(str(s), LABELS[s], "count", str(s),
                description=f"Leads first reaching {Stage(s).label} in the period (period "
                "mode), or leads created in the period that have reached it (cohort mode).",
                cohort={str(s): f"cohort_{s}"})
            for s in FUNNEL[1:]
        ],
        KPI("visitor_to_lead", "Site conversion rate", "ratio", "leads", "visitors",
            "Leads created / visitors, same period and channel."),
        *STAGE_RATIOS,
        KPI("win_rate", "Win rate", "ratio", "won", "won_or_lost",
            "Won / (won + lost) among deals closed in the period."),
        KPI("ctr", "CTR (ads or posts)", "ratio", "ctr_num", "ctr_den",
            "Clicks / impressions, on the days that know both."),
        KPI("cpc", "CPC", "currency", "cpc_num", "cpc_den", "Spend / clicks."),
        KPI("cpl", "CPL", "currency", "spend", "leads",
            "Spend / leads attributed to the cut in the period."),
        KPI("landing_page_conversion_rate", "Landing-page conversion rate", "ratio",
            "landing_page_leads", "landing_page_visitors",
            "Leads that came through a landing page / landing-page visitors."),
        KPI("bounce_rate", "Bounce rate", "ratio", "bounce_num", "bounce_den",
            "Bounced sessions / sessions."),
        KPI("pages_per_session", "Pages per session", "pages", "pages_num", "pages_den",
            "Pageviews / sessions."),
        KPI("time_on_site", "Time on site", "seconds", "time_num", "time_den",
            "Total time on site / sessions, in seconds."),
        KPI("engagement_rate", "Engagement rate", "ratio", "engagement_num", "engagement_den",
            "Engagements / impressions (paid and organic)."),
        KPI("email_open_rate", "Email open rate", "ratio", "email_open_num", "email_open_den",
            "Unique opens / delivered."),
        KPI("email_ctr", "Email CTR", "ratio", "email_click_num", "email_click_den",
            "Unique clicks / delivered."),
        KPI("email_unsubscribe_rate", "Email churn (unsubscribe) rate", "ratio",
            "email_unsubscribe_num", "email_unsubscribe_den", "Unsubscribes / delivered."),
        KPI("workflow_goal_rate", "Workflow goal rate", "ratio", "enrolments_goal", "enrolments",
            "Enrolments of the period that reached the workflow's goal / enrolments."),
        KPI("nurture_engagement_rate", "Nurture engagement rate", "ratio", "mql_engaged",
            "mql_open",
            "MQLs with an email open or click, page view or form in the period / MQLs open at "
            "any time in the period."),
        KPI("response_rate", "Response rate", "ratio", "replied", "contacted",
            "Leads contacted in the period (call, meeting, email) that replied / contacted."),
        KPI("not_interested_rate", "Not-interested rate", "ratio", "not_interested",
            "contacted", "Contacted leads disqualified as 'Not interested' / contacted."),
        KPI("cac", "CAC", "currency", "acquisition_cost", "won",
            "(Marketing spend + sales cost) / customers won, per channel and campaign by "
            "attribution.", source="PRODUCT.md, KPIs; sales cost: KPI_SALES_COST_PER_MONTH"),
        KPI("sales_cycle_median_days", "Sales cycle (median)", "days", "cycle_median_days",
            description="Median days from lead creation to won, for leads won in the period."),
        KPI("sales_cycle_mean_days", "Sales cycle (mean)", "days", "cycle_days", "won",
            "Mean days from lead creation to won, for leads won in the period."),
        KPI("customer_churn_rate", "Customer churn rate", "ratio", "customers_churned",
            "customers_at_start", "Customers churned in the period / customers active at its "
            "start."),
        KPI("ltv", "LTV", "currency", "ltv_num", "ltv_den",
            "Average monthly revenue per customer × gross margin / monthly customer churn rate.",
            source="PRODUCT.md, KPIs; gross margin: KPI_GROSS_MARGIN; revenue: deal_amount is "
            "annual"),
    ]
}
FUNNEL_KPIS = ("leads", "visitors", "mql", "sql", "opportunity", "won", "visitor_to_lead",
               *(k.key for k in STAGE_RATIOS))


def derived(measures: dict, *, period: Period, won_all: int | None = None) -> dict:
    """Measures made of other measures. `won_all`: customers won across every cut, for sharing
    the sales cost (None: this cut is everything)."""
    out = dict(measures)
    won, lost = measures.get("won") or 0, measures.get("lost") or 0
    out["won_or_lost"] = won + lost
    seconds = measures.get("cycle_seconds")
    out["cycle_days"] = None if seconds is None else seconds / SECONDS_PER_DAY
    sales_cost = Decimal(str(settings.KPI_SALES_COST_PER_MONTH)) * Decimal(str(period.months))
    share = 1 if won_all is None else (won / won_all if won_all else 0)
    spend = measures.get("spend")
    # Unknown spend (no figures for the cut: an owner, a CTA, a channel without rows) is not
    # zero spend: CAC is then unknown too, rather than the sales cost alone.
    out["acquisition_cost"] = (
        None if spend is None
        else spend + (sales_cost * Decimal(str(share))).quantize(Decimal("0.01"))
    )
    # LTV: monthly revenue per customer x margin, over the monthly churn rate.
    amount, customers = measures.get("won_amount"), measures.get("won_with_amount")
    churned, at_start = measures.get("customers_churned"), measures.get("customers_at_start")
    if amount is None or not customers or not churned or not at_start:
        out["ltv_num"], out["ltv_den"] = None, None
    else:
        margin = Decimal(str(settings.KPI_GROSS_MARGIN))
        out["ltv_num"] = amount / 12 / customers * margin
        out["ltv_den"] = Decimal(churned) / Decimal(at_start) / Decimal(str(period.months))
    return out


def kpi_parts(kpi: KPI, measures: dict, mode: str = "period"):
    """(numerator, denominator) of a KPI from computed (and derived) measures."""
    numerator = kpi.numerator
    denominator = kpi.denominator
    if mode == "cohort":
        numerator = kpi.cohort.get(numerator, numerator)
        denominator = kpi.cohort.get(denominator, denominator)
    return measures.get(numerator), (measures.get(denominator) if denominator else None)


def kpi_value(kpi: KPI, numerator, denominator):
    """The KPI's value: the numerator itself, or numerator / denominator; null on a zero or
    unknown denominator, or an unknown numerator. Floats at full precision."""
    if kpi.denominator is None:
        if numerator is None or isinstance(numerator, int):
            return numerator
        return float(numerator)
    if numerator is None or denominator is None or denominator == 0:
        return None
    return float(numerator) / float(denominator)


def kpis_compute(
    *, period: Period, cut: Cut, scope: Q, mode: str = "period", as_of: date | None = None
) -> list[dict]:
    """Every KPI of KPIS for one period and cut, live."""
    measures = derived(measures_compute(period=period, cut=cut, scope=scope, as_of=as_of),
                       period=period, won_all=_won_all(period, cut, scope))
    return kpi_rows(measures, mode)


def kpi_rows(measures: dict, mode: str, only: Collection[str] | None = None) -> list[dict]:
    """The KPI rows (as the KPI API gives them) of computed and derived measures, in KPIS
    order; `only`: just these KPIs."""
    rows = []
    for kpi in KPIS.values():
        if only is not None and kpi.key not in only:
            continue
        numerator, denominator = kpi_parts(kpi, measures, mode)
        rows.append({
            "key": kpi.key,
            "label": kpi.label,
            "value": kpi_value(kpi, numerator, denominator),
            "numerator": _json_number(numerator),
            "denominator": _json_number(denominator),
            "unit": kpi.unit,
        })
    return rows


# --- grouped: many cuts of one dimension at once -------------------------------------------------

DIMENSIONS = ("channel", "campaign", "cta")
# Lead measures counted only over leads that reach a stage or close in their period: a grouped
# read of just these reads only such leads, which the first-reached indexes find.
_WINDOWED = frozenset({
    *(_stage(s) for s in FUNNEL), *(f"cohort_{s}" for s in FUNNEL[1:]), "lost",
    "landing_page_leads", "cycle_seconds", "won_amount", "won_with_amount",
})


def measures_compute_by(
    *, periods: Sequence[Period], dimension: str, cut: Cut, scope: Q,
    keys: Iterable | None = None, as_of: date | None = None,
    names: Collection[str] | None = None,
) -> dict:
    """{key: [measures_compute(period=p, cut=<cut with key as its `dimension`>) for p in
    periods]}, from the same aggregate expressions grouped by the dimension's field (for the
    cut's attribution): each source is read once for every key and period, so the number of
    queries does not depend on how many keys there are (leads, figures, enrolments, and a
    median query per period).

    `keys`: the values to compute, each in the result (zero counts, null sums when it has no
    rows); None: every value found among the leads and figures read, and None for the leads
    without one (no campaign, a blank CTA), which no cut names. `names`: only these measures
    (None: all); figures, enrolments and medians are queried only when named."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}")
    keys = None if keys is None else list(keys)
    if keys == []:
        return {}
    grouped = _Grouped(periods=periods, dimension=dimension, cut=cut, names=names, as_of=as_of)
    leads = grouped.leads(scope, keys)
    grouped.add_leads(leads)
    grouped.add_medians(leads)
    if dimension != "cta" and _has_figures(grouped.base, scope):
        grouped.add_figures(keys)
    grouped.add_enrolments(leads)
    for key in keys or ():
        grouped.values(key)
    return grouped.result()


class _Grouped:
    """The measures of each key and period, as `measures_compute_by` reads them: each source's
    aggregates of every period in one query grouped by key (`_numbered` aliases)."""

    def __init__(self, *, periods, dimension, cut, names, as_of):
        self.periods, self.dimension, self.names = periods, dimension, names
        self.base = replace(cut, **{dimension: None})
        self.group = cut.lead_field(dimension)
        self.span = Period(min(p.start for p in periods), max(p.end for p in periods))
        self.lead_aggregates = self.wanted([_lead_measures(p, as_of) for p in periods])
        self.figure_aggregates = self.wanted([
            _metric_measures(Q(date__gte=p.start, date__lte=p.end)) for p in periods
        ])
        self.enrolment_aggregates = self.wanted([
            _enrolment_measures(_within("entered_at", p)) for p in periods
        ])
        self.found: dict = {}  # key -> [values per period]

    def wanted(self, aggregates: list[dict]) -> list[dict]:
        if self.names is None:
            return aggregates
        return [{k: v for k, v in a.items() if k in self.names} for a in aggregates]

    def leads(self, scope: Q, keys: list | None):
        leads = Lead.objects.filter(scope, self.base.lead_q()).order_by()
        if keys is not None:
            leads = leads.filter(**{f"{self.group}__in": keys})
        windowed = _WINDOWED.issuperset(self.lead_aggregates[0])
        if self.names is not None and windowed and not self.enrolment_aggregates[0]:
            leads = leads.filter(_touched(self.span))  # only such leads count
        return leads

    def add_leads(self, leads) -> None:
        if self.lead_aggregates[0]:
            rows = leads.values(self.group).annotate(**_numbered(self.lead_aggregates))
            self.add(rows, self.group)

    def add_medians(self, leads) -> None:
        if self.names is None or "cycle_median_days" in self.names:
            for i, period in enumerate(self.periods):
                for key, median in _median_cycle_days_by(leads, self.group, period).items():
                    self.values(key)[i]["cycle_median_days"] = median

    def add_figures(self, keys: list | None) -> None:
        if not self.figure_aggregates[0]:
            return
        field_name = "campaign_id" if self.dimension == "campaign" else "channel"
        metrics = DailyMetric.objects.filter(
            _metric_q_by(self.base, self.dimension),
            date__gte=self.span.start, date__lte=self.span.end,
        ).order_by()
        if keys is not None:
            metrics = metrics.filter(**{f"{field_name}__in": keys})
        self.add(metrics.values(field_name).annotate(**_numbered(self.figure_aggregates)),
                 field_name)

    def add_enrolments(self, leads) -> None:
        if self.enrolment_aggregates[0]:
            group = f"lead__{self.group}"
            enrolments = NurtureEnrolment.objects.filter(
                Q(lead__in=leads.values("pk")), _within("entered_at", self.span)
            ).order_by().values(group)
            self.add(enrolments.annotate(**_numbered(self.enrolment_aggregates)), group)

    def values(self, key) -> list[dict]:
        key = None if key == "" else key  # a blank CTA is no CTA
        return self.found.setdefault(key, [{} for _ in self.periods])

    def add(self, rows, group: str) -> None:
        """Grouped rows of `_numbered` aggregates, into their key's values of each period."""
        for row in rows:
            per_period = self.values(row.pop(group))
            for alias, value in row.items():
                index, name = alias.removeprefix("p").split("_", 1)
                per_period[int(index)][name] = value

    def result(self) -> dict:
        """Canonical measures; where a key has no row, what each aggregate gives over none (a
        count 0, a sum unknown), as for figures not read."""
        defaults = {**_empty(self.lead_aggregates[0]), **_empty(self.figure_aggregates[0]),
                    **_empty(self.enrolment_aggregates[0])}
        if self.names is None or "cycle_median_days" in self.names:
            defaults["cycle_median_days"] = None
        return {key: [canonical({**defaults, **values}) for values in per_period]
                for key, per_period in self.found.items()}


def _numbered(aggregates: list[dict]) -> dict:
    """Each period's aggregates in one query, aliased `p<period index>_<measure>`: aliases must
    not be field names that other aggregates read."""
    return {f"p{i}_{k}": v for i, period in enumerate(aggregates) for k, v in period.items()}


def _touched(period: Period) -> Q:
    """Leads reaching a stage or closing in the period."""
    q = Q()
    for stage_field in (*REACHED_FIELD.values(), "closed_at"):
        q |= _within(stage_field, period)
    return q


def _metric_q_by(base: Cut, dimension: str) -> Q:
    """`Cut.metric_q` of `base` with each value of `dimension` (channel or campaign), written
    once for all of them."""
    if dimension == "campaign":
        q = Q(campaign__isnull=False)
        return q & Q(channel=base.channel) if base.channel else q
    # a channel's own totals, or the base cut's campaign's rows
    return Q(campaign_id=base.campaign) if base.campaign else Q(campaign__isnull=True)


def kpis_compute_by(
    *, period: Period, dimension: str, cut: Cut, scope: Q, keys: Iterable | None = None,
    mode: str = "period", as_of: date | None = None, won: int | None = None,
) -> dict:
    """{key: kpis_compute(cut=<cut with key as its `dimension`>)} for many keys at once
    (`measures_compute_by`), plus one query for the customers won that share the sales cost
    (`won`: that count, when the caller has it)."""
    measures = measures_compute_by(periods=(period,), dimension=dimension, cut=cut, scope=scope,
                                   keys=keys, as_of=as_of)
    if measures and won is None:
        (won,) = won_compute(periods=(period,), scope=scope)
    return {
        key: kpi_rows(derived(values, period=period, won_all=won), mode)
        for key, (values,) in measures.items()
    }


def kpis_compute_by_campaign(
    *, period: Period, campaigns: Iterable[int], scope: Q, mode: str = "period",
    attribution: str = "first",
) -> dict[int, list[dict]]:
    """`kpis_compute_by` of these campaigns: five queries however many there are."""
    return kpis_compute_by(period=period, dimension="campaign", keys=campaigns,
                           cut=Cut(attribution=attribution), scope=scope, mode=mode)


def _empty(aggregates: dict) -> dict:
    """What each aggregate gives over no row: a count 0, a sum unknown."""
    return {k: (0 if isinstance(v, Count) else None) for k, v in aggregates.items()}


def _median_cycle_days_by(leads, group: str, period: Period) -> dict:
    """`_median_cycle_days` per group in one query: each group's won leads are ranked by cycle in
    SQL and only the one or two middle rows of each group reach Python."""
    won = leads.filter(_within("became_won_at", period)).annotate(
        cycle=SecondsBetween("became_won_at", "became_lead_at"),
        rank=Window(RowNumber(), partition_by=[F(group)], order_by=[F("cycle").asc()]),
        size=Window(Count("pk"), partition_by=[F(group)]),
    )
    middle = won.filter(Q(rank=(F("size") + 1) / 2) | Q(rank=F("size") / 2 + 1))
    cycles: dict = {}
    for pk, cycle in middle.values_list(group, "cycle"):
        cycles.setdefault(pk, []).append(cycle)
    return {pk: round(statistics.fmean(v) / SECONDS_PER_DAY, 6) for pk, v in cycles.items()}


def won_compute(*, periods: Sequence[Period], scope: Q) -> tuple[int, ...]:
    """Customers won in scope in each period, in one query: a cut's share of the sales cost is
    its share of these (CAC)."""
    counts = Lead.objects.filter(scope).aggregate(**{
        f"p{i}": Count("pk", filter=_within("became_won_at", p)) for i, p in enumerate(periods)
    })
    return tuple(counts[f"p{i}"] for i in range(len(periods)))


def _won_all(period: Period, cut: Cut, scope: Q) -> int | None:
    if cut == Cut(attribution=cut.attribution):
        return None
    return won_compute(periods=(period,), scope=scope)[0]


def _json_number(value):
    if value is None or isinstance(value, int):
        return value
    return float(value)


def funnel_compute(
    *, period: Period, cut: Cut, scope: Q, mode: str = "period", as_of: date | None = None
) -> dict:
    """The funnel API's counts and rates: two queries (leads, visitors). Only the mode's counts
    are computed, and over only the leads that can count, which the first-reached indexes find:
    those created in the period (cohort mode) or reaching some stage in it (period mode). Each
    count's own filter implies that condition, so the counts are the same."""
    cohort = mode == "cohort"
    counts = {k: v for k, v in _stage_counts(period, as_of).items()
              if k == "leads" or k.startswith("cohort_") == cohort}
    counted = Q()
    for stage in (Stage.LEAD,) if cohort else FUNNEL:
        counted |= _within(REACHED_FIELD[stage], period)
    leads = Lead.objects.filter(scope, cut.lead_q(), counted).order_by()
    counts = leads.aggregate(**counts)
    visitors = None
    if _has_figures(cut, scope):
        visitors = DailyMetric.objects.filter(
            cut.metric_q(), date__gte=period.start, date__lte=period.end
        ).aggregate(v=Sum("visitors"))["v"]
    measures = {**canonical(counts), "visitors": visitors}
    stage_counts = {}
    for stage in FUNNEL:
        name = _stage(stage)
        key = f"cohort_{stage}" if mode == "cohort" and stage != Stage.LEAD else name
        stage_counts[str(stage)] = measures[key]
    rates = {}
    for kpi in (KPIS["visitor_to_lead"], *STAGE_RATIOS):
        rates[kpi.key] = kpi_value(kpi, *kpi_parts(kpi, measures, mode))
    return {"visitors": visitors, "counts": stage_counts, "rates": rates}
