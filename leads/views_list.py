"""The lead list (/leads/): LeadFilter (the API's FilterSet) as a filter form, sortable columns,
pagination, saved views per user and a CSV export of the same filtered, sorted leads.

Scope: every query starts from `leads.selectors.lead_list(user=...)`, so a rep sees, exports and
replays saved views over their own leads only; the filter narrows that scope, never widens it.

Query budget (pinned in tests/leads/test_list_page.py): besides the ~5 queries of the session, the
user, their permissions and the header, the page runs three, whatever the data size: the page of
rows with the total count (a window function, so no separate COUNT), the user's saved views, and
the owner and campaign options of the filter form (one UNION query, handed to the form fields so
that checking a chosen owner or campaign needs no query either).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    IntegerField,
    OuterRef,
    Subquery,
    Value,
    When,
    Window,
)
from django.http import Http404, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from campaigns.models import Campaign, Channel
from funnelcrm.navigation import page_access

from .filters import LeadFilter
from .models import Activity, SavedLeadView
from .selectors import lead_list, saved_lead_view_list
from .services import saved_lead_view_create, saved_lead_view_delete
from .stages import Stage

PER_PAGE = 50
RESULTS_TARGET = "lead-results"


@dataclass(frozen=True)
class Column:
    """A sortable column: `fields` order the rows (ties broken by id); the first click on its
    header sorts by `first` ("asc" or "desc"), the next one the other way."""

    key: str
    label: str
    fields: tuple[str, ...]
    first: str = "asc"
    num: bool = False


COLUMNS = (
    Column("name", "Name", ("last_name", "first_name", "email")),
    Column("company", "Company", ("account__name",)),
    Column("stage", "Stage", ("stage_order",)),
    Column("owner", "Owner", ("owner__first_name", "owner__last_name", "owner__username")),
    Column("score", "Score", ("score",), first="desc", num=True),
    Column("amount", "Amount", ("deal_amount",), first="desc", num=True),
    Column("channel", "Channel", ("first_touch_channel",)),
    Column("campaign", "Campaign", ("first_touch_campaign__name",)),
    Column("created", "Created", ("became_lead_at",), first="desc"),
    Column("last_activity", "Last activity", ("last_activity_at",), first="desc"),
)
COLUMNS_BY_KEY = {column.key: column for column in COLUMNS}
DEFAULT_SORT = "-created"
# The lifecycle's order, not the alphabet's, when sorting by stage.
STAGE_ORDER = Case(
    *[When(stage=stage, then=Value(index)) for index, stage in enumerate(Stage.values)],
    output_field=IntegerField(),
)


@dataclass(frozen=True)
class Sort:
    column: Column
    descending: bool

    @property
    def param(self) -> str:
        return f"-{self.column.key}" if self.descending else self.column.key


def sort_parse(value: str | None) -> Sort:
    """`?sort=score` (ascending) or `?sort=-score`; anything not a column key is the default."""
    value = (value or "").strip()
    column = COLUMNS_BY_KEY.get(value.removeprefix("-"))
    if column is None:
        return sort_parse(DEFAULT_SORT)
    return Sort(column, value.startswith("-"))


def query_normalise(data) -> str:
    """The list's state as a stable query string: filter keys in the FilterSet's order (values
    sorted, blanks dropped), then the sort unless it is the default. No page: a saved view or an
    export is the whole list. Equal lists give equal strings (how the current saved view is
    recognised)."""
    pairs = []
    for key in LeadFilter.base_filters:
        values = sorted({value.strip() for value in data.getlist(key) if value.strip()})
        pairs.extend((key, value) for value in values)
    sort = sort_parse(data.get("sort")).param
    if sort != DEFAULT_SORT:
        pairs.append(("sort", sort))
    return urlencode(pairs)


def _with(query: str, **params) -> str:
    extra = urlencode({key: value for key, value in params.items() if value not in (None, "")})
    return "?" + "&".join(part for part in (query, extra) if part)


def _filterset(request, data) -> LeadFilter:
    queryset = lead_list(user=request.user).prefetch_related(None)
    return LeadFilter(data, queryset=queryset, request=request)


def _leads_sorted(filterset: LeadFilter, sort: Sort):
    last_activity = (
        Activity.objects.filter(lead=OuterRef("pk")).order_by("-at").values("at")[:1]
    )
    queryset = filterset.qs.annotate(last_activity_at=Subquery(last_activity))
    if sort.column.key == "stage":
        queryset = queryset.annotate(stage_order=STAGE_ORDER)
    ordering = [
        F(field).desc(nulls_last=True) if sort.descending else F(field).asc(nulls_last=True)
        for field in sort.column.fields
    ]
    return queryset.order_by(*ordering, "-id" if sort.descending else "id")


def _options_preload(form) -> None:
    """Load the owner and campaign options of the filter form in one query (see the module's
    docstring) and hand them to the two fields."""
    user_model = get_user_model()
    text = CharField()
    owners = user_model.objects.order_by().values_list(
        Value("owner", output_field=text), "pk", "username", "first_name", "last_name",
    )
    campaigns = Campaign.objects.order_by().values_list(
        Value("campaign", output_field=text), "pk", "name", "channel",
        Value("", output_field=text),
    )
    users, campaign_objects = [], []
    for kind, pk, label, extra, last_name in owners.union(campaigns, all=True):
        if kind == "owner":
            users.append(user_model(pk=pk, username=label, first_name=extra, last_name=last_name))
        else:
            campaign_objects.append(Campaign(pk=pk, name=label, channel=extra))
    users.sort(key=lambda user: (_user_label(user).lower(), user.pk))
    campaign_objects.sort(key=lambda campaign: (campaign.name.lower(), campaign.pk))
    form.fields["owner"].label_from_instance = _user_label
    form.fields["owner"].empty_label = "Anyone"
    form.fields["campaign"].empty_label = "Any campaign"
    form.fields["owner"].preload(users)
    form.fields["campaign"].preload(campaign_objects)


def _user_label(user) -> str:
    return user.get_full_name() or user.get_username()


def _errors(form) -> list[str]:
    """Each error with the label of its field, e.g. "Stage: Select a valid choice. ..."."""
    lines = []
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        lines.extend(f"{label}: {error}" if label else error for error in errors)
    return lines


def _page_number(value) -> int:
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1


def _list_context(request, data, *, save_name: str = "", save_errors=()) -> dict | HttpResponse:
    filterset = _filterset(request, data)
    form = filterset.form
    full_page = not _is_results_request(request)
    if full_page or form["owner"].value() or form["campaign"].value():
        _options_preload(form)
    sort = sort_parse(data.get("sort"))
    query = query_normalise(data)
    can_see_all = request.user.has_perm("leads.view_all_leads")
    context = {
        "form": form, "sort": sort, "query": query, "can_see_all": can_see_all,
        "errors": [], "leads": [], "total": 0, "page_links": [],
        "saved_views": list(saved_lead_view_list(user=request.user)),
        "save_name": save_name, "save_errors": list(save_errors),
        "export_url": reverse("leads:export") + _with(query),
        "reset_url": reverse("leads:list"), "per_page": PER_PAGE,
        "has_filters": bool(query_normalise_without_sort(query)),
        "partial": not full_page,
    }
    context["current_view"] = next(
        (view for view in context["saved_views"] if view.query == query), None
    )
    context["headers"] = [_header(column, sort, query) for column in COLUMNS]
    if not form.is_valid():
        context["errors"] = _errors(form)
        return context

    number = _page_number(data.get("page"))
    offset = (number - 1) * PER_PAGE
    rows = list(
        _leads_sorted(filterset, sort).annotate(total=Window(Count("pk")))[
            offset : offset + PER_PAGE
        ]
    )
    if not rows and number > 1:  # past the end (the list shrank): go to its last page
        last = max(1, -(-_leads_sorted(filterset, sort).count() // PER_PAGE))
        return redirect(reverse("leads:list") + _with(query, page=last))
    total = rows[0].total if rows else 0
    paginator = Paginator(range(total), PER_PAGE)
    context.update(
        leads=rows, total=total, page_number=number, num_pages=paginator.num_pages,
        first_index=offset + 1, last_index=offset + len(rows),
        page_links=_page_links(paginator, number, query),
    )
    return context


def _header(column: Column, sort: Sort, query: str) -> dict:
    base = query_normalise_without_sort(query)
    if sort.column == column:
        descending = not sort.descending
        aria = "descending" if sort.descending else "ascending"
    else:
        descending = column.first == "desc"
        aria = None
    param = f"-{column.key}" if descending else column.key
    return {
        "column": column, "aria_sort": aria,
        "url": _with(base, sort=None if param == DEFAULT_SORT else param),
        "next_label": f"Sort by {column.label.lower()}, "
        + ("descending" if descending else "ascending"),
    }


def query_normalise_without_sort(query: str) -> str:
    return "&".join(part for part in query.split("&") if part and not part.startswith("sort="))


def _page_links(paginator: Paginator, number: int, query: str) -> list[dict]:
    if paginator.num_pages <= 1:
        return []
    links = []
    if number > 1:
        links.append({"label": "‹ Previous", "url": _with(query, page=number - 1), "rel": "prev"})
    for item in paginator.get_elided_page_range(number, on_each_side=2, on_ends=1):
        if item == Paginator.ELLIPSIS:
            links.append({"label": "…", "gap": True})
        else:
            links.append({"label": item, "url": _with(query, page=item), "current": item == number})
    if number < paginator.num_pages:
        links.append({"label": "Next ›", "url": _with(query, page=number + 1), "rel": "next"})
    return links


def _is_results_request(request) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and htmx.target == RESULTS_TARGET and not htmx.history_restore_request


def _render(request, context, status=200):
    if isinstance(context, HttpResponse):
        return context
    template = "leads/list_results.html" if context["partial"] else "leads/list.html"
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    if context["partial"]:  # the address bar shows the list's state, not the form's blanks
        page = context.get("page_number", 1)
        response["HX-Push-Url"] = reverse("leads:list") + _with(
            context["query"], page=page if page > 1 else None
        )
    return response


@require_GET
@page_access("leads")
def lead_list_page(request):
    return _render(request, _list_context(request, request.GET))


@require_POST
@page_access("leads")
def saved_view_create(request):
    """Save the list's current filter and sort (the form's `query`) under a name."""
    query = request.POST.get("query", "")
    data = _query_dict(query)
    name = request.POST.get("name", "")
    try:
        view = saved_lead_view_create(owner=request.user, name=name, query=query_normalise(data))
    except ValidationError as exc:
        errors = [message for messages_ in exc.message_dict.values() for message in messages_]
        return _render(request, _list_context(request, data, save_name=name, save_errors=errors),
                       status=400)
    messages.success(request, f'Saved the view "{view.name}".')
    return redirect(reverse("leads:list") + _with(view.query))


@require_POST
@page_access("leads")
def saved_view_delete(request, pk: int):
    try:
        name = saved_lead_view_delete(actor=request.user, view_id=pk)
    except SavedLeadView.DoesNotExist:
        raise Http404("No such saved view.")
    messages.success(request, f'Deleted the view "{name}".')
    return redirect(reverse("leads:list") + _with(query_normalise(_query_dict(
        request.POST.get("query", "")))))


def _query_dict(query: str) -> QueryDict:
    return QueryDict(query[:4000])


# --- CSV export ---------------------------------------------------------------------------------

EXPORT_HEADER = [
    "Name", "Email", "Company", "Stage", "Owner", "Score", "Deal amount", "First-touch channel",
    "First-touch campaign", "Last-touch channel", "Content / CTA", "Created", "Last activity",
]
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str | int:
    """Text as a spreadsheet will show it: a leading quote keeps a formula from running. Numbers
    the CRM writes itself (score, amount) stay numbers: they cannot hold a formula."""
    if value is None:
        return ""
    if isinstance(value, int | Decimal):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _export_row(lead, channel_labels, stage_labels) -> list:
    local = timezone.localtime
    return [csv_cell(value) for value in (
        lead.full_name, lead.email, lead.account.name if lead.account else "",
        stage_labels.get(lead.stage, lead.stage),
        _user_label(lead.owner) if lead.owner else "",
        lead.score,
        lead.deal_amount,
        channel_labels.get(lead.first_touch_channel, lead.first_touch_channel),
        lead.first_touch_campaign.name if lead.first_touch_campaign else "",
        channel_labels.get(lead.last_touch_channel, lead.last_touch_channel),
        lead.cta,
        local(lead.became_lead_at).strftime("%Y-%m-%d %H:%M"),
        local(lead.last_activity_at).strftime("%Y-%m-%d %H:%M") if lead.last_activity_at else "",
    )]


class _Echo:
    def write(self, value):
        return value


@require_GET
@page_access("leads")
def lead_list_export(request):
    """The filtered, sorted list as CSV, streamed in chunks: one query however many leads."""
    filterset = _filterset(request, request.GET)
    if filterset.form["owner"].value() or filterset.form["campaign"].value():
        _options_preload(filterset.form)
    if not filterset.form.is_valid():
        return HttpResponse(
            "The filters have errors, so nothing was exported:\n"
            + "\n".join(_errors(filterset.form)) + "\n",
            status=400, content_type="text/plain; charset=utf-8",
        )
    leads = _leads_sorted(filterset, sort_parse(request.GET.get("sort")))
    writer = csv.writer(_Echo())
    channels, stages = dict(Channel.choices), dict(Stage.choices)

    def rows():
        yield "\ufeff"  # so that spreadsheet programs read the file as UTF-8
        yield writer.writerow(EXPORT_HEADER)
        for lead in leads.iterator(chunk_size=2000):
            yield writer.writerow(_export_row(lead, channels, stages))

    filename = f"leads-{timezone.localdate():%Y-%m-%d}.csv"
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
