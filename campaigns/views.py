"""Campaign pages: the list (`CampaignListView`) and a campaign's page (`CampaignDetailView`).
Read only for every role; editing stays in the Django admin. Every number comes from
`reports.kpis` (the registry the API and the snapshots use): the list through
`kpis_compute_by` (grouped by campaign, a fixed number of queries for any number of them), a
campaign's page through `kpis_compute` and `funnel_compute` with `Cut(campaign=id)`. Leads are
attributed by first touch, as the reports' default. A rep's numbers count their own leads only
(`lead_scope`), and marketing figures are then withheld, as in the report API."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from django.core.paginator import Paginator
from django.db.models import OuterRef, Q, Subquery, Sum
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from funnelcrm.navigation import page_access
from leads.selectors import lead_list, lead_scope
from leads.stages import FUNNEL, Stage
from reports.kpis import Cut, funnel_compute, kpis_compute, kpis_compute_by

from .forms import MODES, PeriodForm
from .kpi_display import WITHHELD, kpi_text, kpis_shown
from .models import Campaign, DailyMetric

LIST_PRESETS = ["90d", "30d", "365d", "ytd", "all", "custom"]
DETAIL_PRESETS = ["life", "30d", "90d", "365d", "custom"]
LIST_KPIS = ("spend", "leads", "cpl", "lead_to_mql", "cac")
LIST_LABELS = {"lead_to_mql": "MQL rate"}
SORTS = {
    "name": lambda c: c.name.lower(),
    "status": lambda c: c.get_status_display(),
    "channel": lambda c: c.get_channel_display(),
    "starts_on": lambda c: c.starts_on,
    **{key: (lambda c, key=key: c.kpis[key].value) for key in LIST_KPIS},
}
DETAIL_KPIS = ("spend", "leads", "cpl", "lead_to_mql", "cac", "won", "visitors",
               "visitor_to_lead", "ctr", "cpc", "win_rate", "sales_cycle_median_days")
LEADS_PER_PAGE = 25


@page_access("campaigns")
def campaign_list(request):
    """Every campaign with its status, channel, dates and KPIs over one period for all of them
    (default: the last 90 days, so that the rows compare like with like; "All time" covers each
    campaign's whole life, and a campaign's own page opens on its whole life)."""
    form = PeriodForm(request.GET, presets=LIST_PRESETS)
    campaigns = Campaign.objects.select_related("owner").order_by("name", "pk")
    all_time = form.preset() == "all"
    if all_time:
        campaigns = _with_first_days(campaigns)
    campaigns = list(campaigns)
    life_start = _first_day(campaigns) if all_time else None
    period = form.period_get(life_start=life_start)
    scope = lead_scope(request.user)
    all_leads = scope == Q()
    computed = kpis_compute_by(
        period=period, dimension="campaign", keys=[c.pk for c in campaigns], cut=Cut(),
        scope=scope,
    )
    for campaign in campaigns:
        shown = kpis_shown(computed[campaign.pk], all_leads=all_leads)
        campaign.kpis = {key: replace(shown[key], label=LIST_LABELS.get(key, shown[key].label))
                         for key in LIST_KPIS}
    sort = request.GET.get("sort", "name")
    key = sort.removeprefix("-")
    if key not in SORTS:
        sort, key = "name", "name"
    descending = sort.startswith("-")
    present = [c for c in campaigns if SORTS[key](c) is not None]
    missing = [c for c in campaigns if SORTS[key](c) is None]  # nulls last, either way
    present.sort(key=SORTS[key], reverse=descending)
    page = Paginator(present + missing, 50).get_page(request.GET.get("page"))
    return render(request, "campaigns/list.html", {
        "form": form, "errors": form.error_messages(), "period": period, "page": page,
        "campaigns": page.object_list, "sort": sort, "sort_key": key, "descending": descending,
        "columns": _columns(), "all_leads": all_leads, "query": _query_without(request, "sort",
                                                                               "page"),
        "can_change": _can_edit(request.user),
    })


def _with_first_days(campaigns):
    """Each campaign with its first metric day and its first attributed lead, in the same query
    (indexed subqueries), for "All time"."""
    from leads.models import Lead

    first_metric = DailyMetric.objects.filter(campaign=OuterRef("pk")).order_by("date")
    first_lead = Lead.objects.filter(first_touch_campaign=OuterRef("pk")).order_by(
        "became_lead_at")
    return campaigns.annotate(
        first_metric=Subquery(first_metric.values("date")[:1]),
        first_lead=Subquery(first_lead.values("became_lead_at")[:1]),
    )


def _first_day(campaigns):
    """The first day any campaign's figures or leads can fall on: its start, its creation, its
    first metric row or its first attributed lead."""
    days = []
    for c in campaigns:
        days += [c.starts_on, c.created_at.date(), c.first_metric,
                 c.first_lead and timezone.localtime(c.first_lead).date()]
    days = [d for d in days if d]
    return min(days) if days else None


def _columns():
    return [
        ("name", "Campaign", ""), ("status", "Status", ""), ("channel", "Channel", ""),
        ("starts_on", "Dates", ""), ("spend", "Spend", "num"), ("leads", "Leads", "num"),
        ("cpl", "CPL", "num"), ("lead_to_mql", "MQL rate", "num"), ("cac", "CAC", "num"),
    ]


def _query_without(request, *names) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


def _can_edit(user) -> bool:
    # The Django admin opens for staff only: the link is shown to those it will work for.
    return user.is_staff and user.has_perm("campaigns.change_campaign")


@page_access("campaigns")
def campaign_detail(request, pk: int):
    campaign = get_object_or_404(Campaign.objects.select_related("owner"), pk=pk)
    form = PeriodForm(request.GET, presets=DETAIL_PRESETS)
    life_start = campaign.starts_on or campaign.created_at.date()
    period = form.period_get(life_start=life_start)
    mode = request.GET.get("mode") if request.GET.get("mode") in MODES else "period"
    scope = lead_scope(request.user)
    all_leads = scope == Q()
    cut = Cut(campaign=campaign.pk)
    kpis = kpis_shown(kpis_compute(period=period, cut=cut, scope=scope), all_leads=all_leads)
    funnel = funnel_compute(period=period, cut=cut, scope=scope, mode=mode)
    leads = (
        lead_list(user=request.user)
        .filter(first_touch_campaign=campaign)
        .prefetch_related(None)
        .select_related("owner", "account")
        .order_by("-became_lead_at", "-pk")
    )
    page = Paginator(leads, LEADS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "campaigns/detail.html", {
        "campaign": campaign, "form": form, "errors": form.error_messages(), "period": period,
        "mode": mode, "modes": MODES,
        "kpis": [kpis[k] for k in DETAIL_KPIS if all_leads or not _withheld(kpis[k])],
        "funnel": _funnel_rows(funnel, all_leads=all_leads), "funnel_visitors": funnel["visitors"],
        "funnel_visitors_text": kpi_text(funnel["visitors"], "count"),
        "budget_text": kpi_text(campaign.budget, "currency"),
        "chart": _chart_data(campaign, period, trim=form.preset() == "life"),
        "page": page, "leads": page.object_list,
        "lead_url": _lead_url_prefix(), "all_leads": all_leads,
        "can_change": _can_edit(request.user),
        "query": _query_without(request, "page"),
    })


def _withheld(kpi) -> bool:
    """A figure KPI a reader who sees only their own leads does not get (see reports.kpis)."""
    return kpi.is_null and kpi.why_null == WITHHELD


def _funnel_rows(funnel: dict, *, all_leads: bool) -> list[dict]:
    """Each stage's count, its rate from the stage before and its share of the top, for the
    bars."""
    counts, rates = funnel["counts"], funnel["rates"]
    top = max(counts.values(), default=0) or 1
    rows = []
    for i, stage in enumerate(FUNNEL):
        rate_key = f"{FUNNEL[i - 1]}_to_{stage}" if i else "visitor_to_lead"
        before = Stage(FUNNEL[i - 1]).label if i else "Visitors"
        rate = rates.get(rate_key)
        if rate is not None:
            why = ""
        elif not i and funnel["visitors"] is None:
            why = ("No visitor figures for this campaign in the period." if all_leads else
                   "Visitor figures are shown to those who see every lead.")
        else:
            why = f"No {before.lower()} in the period: a ratio over zero is not a number."
        rows.append({
            "stage": str(stage), "label": Stage(stage).label, "count": counts[str(stage)],
            "count_text": kpi_text(counts[str(stage)], "count"),
            "rate": rate, "rate_text": kpi_text(rate, "ratio"), "rate_from": before,
            "why_null": why, "width": round(100 * counts[str(stage)] / top, 1),
        })
    return rows


def _chart_data(campaign: Campaign, period, *, trim: bool) -> dict:
    """Daily visitors, clicks and spend over the period, one point per day (null for a day
    without figures), for Chart.js. One query."""
    rows = (
        DailyMetric.objects.filter(campaign=campaign, date__gte=period.start,
                                   date__lte=period.end)
        .order_by().values("date")
        .annotate(visitors=Sum("visitors"), clicks=Sum("clicks"), spend=Sum("spend"))
    )
    by_day = {row["date"]: row for row in rows}
    days = [period.start + timedelta(days=n) for n in range(period.days)]
    if trim and by_day:  # its whole life: from its first figures (ads start after the setup)
        days = [d for d in days if d >= min(by_day)]

    def series(name, cast):
        return [cast(by_day[d][name]) if d in by_day and by_day[d][name] is not None else None
                for d in days]

    return {
        "labels": [d.isoformat() for d in days],
        "visitors": series("visitors", int),
        "clicks": series("clicks", int),
        "spend": series("spend", float),
        "has_data": bool(by_day),
    }


def _lead_url_prefix() -> str:
    """The lead page's URL with the id left out (its view is built in leads/urls_board.py)."""
    try:
        return reverse("leads:detail", args=[0]).removesuffix("0/")
    except NoReverseMatch:
        return "/leads/"
