"""The reports dashboard (/reports/) and its CSV exports (/reports/export/<table>.csv): thin views
over `reports.dashboard` (the query and the numbers) and `reports.dashboard_tables` (what is
shown). Both take the same GET parameters; bad ones are named on the page, as the API names
them."""

import csv

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from campaigns.models import Channel
from funnelcrm.navigation import page_access

from .breakdowns import TREND_MEASURES
from .dashboard import (
    ATTRIBUTION_LABELS,
    LABELS,
    MODE_LABELS,
    PRESETS,
    Dashboard,
    campaign_choices,
    dashboard_query,
    is_restricted,
    owner_choices,
)
from .dashboard_tables import (
    EXPORTS,
    SECTIONS,
    TREND_LABELS,
    breakdown_table,
    export_table,
    funnel_table,
    kpi_tile,
    section_tiles,
    trends_table,
)

FORMULA_START = ("=", "+", "-", "@")
CAPTIONS = {
    "site": "The site conversion rate beside the traffic, ad and cost figures that explain it.",
    "nurture": "How nurture emails and workflows move leads: opens, clicks, unsubscribes, goals.",
    "sales": "From MQL to customer: stage rates, sales activity, acquisition cost, cycle, churn "
             "and lifetime value.",
}
FIGURE_COLUMNS = {"Visitors", "Site conv.", "Spend", "CPL", "CAC"}
HEADLINE = ("leads", "mql", "sql", "opportunity", "won", "win_rate", "cac")


def csv_cell(value) -> str:
    """A cell as text, with a leading quote on any that a spreadsheet would run as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_START) else text


def _errors(query):
    return [(LABELS.get(name, name), name, message) for name, message in query.errors]


@page_access("reports")
def dashboard(request):
    query = dashboard_query(request.GET, user=request.user)
    restricted = is_restricted(request.user)
    context = {
        "query": query, "values": query.values, "errors": _errors(query),
        "presets": PRESETS, "channels": Channel.choices, "modes": MODE_LABELS,
        "attributions": ATTRIBUTION_LABELS, "restricted": restricted,
        "querystring": request.GET.urlencode(),
    }
    if not query.ok:
        context.update(campaigns=campaign_choices().values(),
                       owners=owner_choices(request.user))
        return render(request, "reports/dashboard.html", context, status=400)

    board = Dashboard(user=request.user, query=query)
    funnel = funnel_table(board)
    channel_table = _without_figures(breakdown_table(board, "channel"), board)
    trends = trends_table(board)
    context.update(
        board=board,
        campaigns=board.campaigns.values(), owners=board.owners,
        funnel_table=funnel, trends_table=trends,
        channel_table=channel_table,
        lead_mql_channel_table=channel_table.project(
            ["Leads", "MQLs", "Lead→MQL"], name="lead_mql_channel", title="Leads by channel"),
        campaign_table=_without_figures(breakdown_table(board, "campaign"), board),
        cta_table=breakdown_table(board, "cta"),
        sections={"lead_mql": {"title": SECTIONS["lead_mql"][0],
                               "tiles": section_tiles(board, "lead_mql")}},
        context_sections=[
            (key, {"title": SECTIONS[key][0], "caption": caption,
                   "tiles": section_tiles(board, key)})
            for key, caption in CAPTIONS.items()
        ],
        TIME_ZONE=settings.TIME_ZONE,
        headline=[kpi_tile(board, key) for key in HEADLINE],
        trends=board.trends,
        funnel_chart={
            "labels": [row[0].text for row in funnel.rows if row[0].text != "Visitors"],
            "counts": [board.funnel["counts"][s] for s in board.funnel["counts"]],
            "rates": [row[2].raw for row in funnel.rows if row[0].text != "Visitors"],
        },
        trends_chart={
            "labels": [m.strftime("%b %Y") for m in board.trends.months],
            "series": [{"label": TREND_LABELS[m], "key": m, "data": board.trends.series[m]}
                       for m in TREND_MEASURES],
        },
        now=timezone.now(),
        api_params=query.api_params(),
    )
    return render(request, "reports/dashboard.html", context)


def _without_figures(table, board):
    """A breakdown without its marketing-figure columns when the cut has none (a CTA or owner
    cut, a rep): columns of dashes help nobody. Its CSV keeps every column."""
    if not board.figures_hidden:
        return table
    keep = [c for c in table.columns[1:] if c not in FIGURE_COLUMNS]
    return table.project(keep, name=table.name, title=table.title)


@page_access("reports")
def export(request, table):
    if table not in EXPORTS:
        raise Http404("No such table.")
    query = dashboard_query(request.GET, user=request.user)
    if not query.ok:
        lines = [f"{label} ({name}): {message}" for label, name, message in _errors(query)]
        return HttpResponse("\n".join(lines) + "\n", status=400,
                            content_type="text/plain; charset=utf-8")
    board = Dashboard(user=request.user, query=query)
    data = export_table(board, table)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = f"funnelcrm-{table}-{query.period.start}-{query.period.end}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    for row in data.csv_rows():
        writer.writerow([csv_cell(value) for value in row])
    return response
