"""Reads for the pipeline board (/leads/board/): the cards of each open stage and each column's
count and deal total, for one user (leads.selectors.lead_scope) and the board's filters.

The first screen is two queries: window functions number each stage's leads newest first and
count and sum the stage over the full filtered set, keeping the first PAGE_SIZE + 1 rows of each
stage (the extra row says whether "load more" has anything to load); then those cards are read.
Newest first is the order of the (stage, -became_lead_at) index. "Load more" continues a column
with a keyset cursor (became_lead_at, id), so a page never re-reads the rows before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum, Value, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from campaigns.models import Campaign

from .filters import LeadFilter
from .models import Lead, StageTransition
from .selectors import lead_scope
from .stages import OPEN_STAGES, Stage

PAGE_SIZE = 25
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BoardFilterForm(forms.Form):
    def clean(self):
        data = super().clean()
        low, high = data.get("score_min"), data.get("score_max")
        if low is not None and high is not None and low > high:
            self.add_error(
                "score_max", f"Score to ({high:g}) must be at least score from ({low:g})."
            )
        return data


class BoardFilter(LeadFilter):
    """LeadFilter (the API's FilterSet) for the board. Owner and campaign are taken by id: the
    board lists their choices itself, and a ModelChoiceFilter would spend a query validating each
    one. The stage filter is dropped: the board's columns are the open stages."""

    owner = django_filters.NumberFilter(field_name="owner_id", label="Owner")
    campaign = django_filters.NumberFilter(
        field_name="first_touch_campaign_id", label="First-touch campaign"
    )

    class Meta(LeadFilter.Meta):
        fields = [f for f in LeadFilter.Meta.fields if f != "stage"]
        form = BoardFilterForm

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters.pop("stage", None)

@dataclass
class Column:
    stage: Stage
    count: int = 0
    amount: Decimal = Decimal(0)
    cards: list[Lead] = field(default_factory=list)
    has_more: bool = False

    @property
    def cursor(self) -> str:
        return cursor_for(self.cards[-1]) if self.cards else ""


def cursor_for(lead: Lead) -> str:
    """A card's place in its column, for "load more": microseconds since the epoch, then its id."""
    return f"{(lead.became_lead_at - _EPOCH) // timedelta(microseconds=1)}.{lead.pk}"


def cursor_parse(cursor: str) -> tuple[datetime, int] | None:
    try:
        micros, pk = (int(part) for part in cursor.split("."))
    except (TypeError, ValueError):
        return None
    return _EPOCH + timedelta(microseconds=micros), pk


def board_filter(*, user, params) -> BoardFilter:
    """The board's FilterSet over the open leads this user may see."""
    qs = Lead.objects.filter(lead_scope(user), stage__in=OPEN_STAGES)
    return BoardFilter(params, queryset=qs)


def _cards(qs: QuerySet[Lead]) -> QuerySet[Lead]:
    # The time of the latest transition is when the lead entered the stage it is in now.
    entered = StageTransition.objects.filter(lead=OuterRef("pk")).order_by("-at", "-id")
    return qs.select_related("owner", "account").annotate(
        in_stage_since=Subquery(entered.values("at")[:1])
    )


def _with_age(leads: list[Lead]) -> list[Lead]:
    now = timezone.now()
    for lead in leads:
        since = lead.in_stage_since or lead.became_lead_at
        lead.days_in_stage = max((now - since).days, 0)
    return leads


def board_columns(*, filterset: BoardFilter, per_column: int = PAGE_SIZE) -> list[Column]:
    """Each open stage's newest `per_column` cards, its count and its deal total, in two queries:
    a narrow one numbers and totals the filtered leads per stage (window functions over id, stage,
    date and amount only), then the chosen cards are read with their owner, account and time in
    stage. Reading the cards' joins and subquery for every filtered lead instead would cost most of
    the board's time at 5,000 leads."""
    stage = [F("stage")]
    ranked = (
        filterset.qs.order_by()
        .annotate(
            position=Window(
                RowNumber(), partition_by=stage,
                order_by=[F("became_lead_at").desc(), F("id").desc()],
            ),
            stage_count=Window(Count("id"), partition_by=stage),
            stage_amount=Window(Sum("deal_amount"), partition_by=stage),
        )
        .filter(position__lte=per_column + 1)
        .values_list("pk", "stage", "position", "stage_count", "stage_amount")
    )
    columns = {s: Column(stage=s) for s in OPEN_STAGES}
    place = {}
    for pk, stage_value, position, count, amount in ranked:
        column = columns[Stage(stage_value)]
        column.count, column.amount = count, amount or Decimal(0)
        if position > per_column:
            column.has_more = True
        else:
            place[pk] = position
    if place:
        cards = sorted(_cards(Lead.objects.filter(pk__in=list(place))), key=lambda c: place[c.pk])
        for lead in _with_age(cards):
            columns[Stage(lead.stage)].cards.append(lead)
    return list(columns.values())


def board_filter_choices(*, user) -> tuple[list | None, list]:
    """The owner filter's choices (None for someone who sees only their own leads) and the
    campaign filter's, in one query: (pk, label) pairs sorted by label."""
    campaigns = Campaign.objects.order_by().annotate(
        kind=Value("campaign"), a=F("name"), b=Value(""), c=Value("")
    ).values_list("pk", "kind", "a", "b", "c")
    sees_all = user.has_perm("leads.view_all_leads")
    if sees_all:
        people = get_user_model().objects.filter(is_active=True, groups__isnull=False).annotate(
            kind=Value("owner"), a=F("first_name"), b=F("last_name"), c=F("username")
        ).values_list("pk", "kind", "a", "b", "c").order_by().distinct()
        campaigns = people.union(campaigns, all=True)
    owners, found = [], []
    for pk, kind, a, b, c in campaigns:
        if kind == "owner":
            owners.append((pk, f"{a} {b}".strip() or c))
        else:
            found.append((pk, a))
    return (sorted(owners, key=lambda o: o[1].lower()) if sees_all else None,
            sorted(found, key=lambda o: o[1].lower()))


def board_column_page(
    *, filterset: BoardFilter, stage: str, cursor: str, per_column: int = PAGE_SIZE
) -> Column:
    """The next cards of one column after `cursor` (count and total are not computed here)."""
    qs = _cards(filterset.qs).filter(stage=stage)
    after = cursor_parse(cursor)
    if after is not None:
        at, pk = after
        qs = qs.filter(Q(became_lead_at__lt=at) | Q(became_lead_at=at, pk__lt=pk))
    leads = list(qs.order_by("-became_lead_at", "-id")[: per_column + 1])
    return Column(
        stage=Stage(stage), cards=_with_age(leads[:per_column]), has_more=len(leads) > per_column
    )


def board_totals(*, filterset: BoardFilter) -> list[Column]:
    """Each open stage's count and deal total (no cards), for the column headers after a move."""
    rows = (
        filterset.qs.order_by()
        .values("stage")
        .annotate(count=Count("id"), amount=Sum("deal_amount"))
    )
    columns = {s: Column(stage=s) for s in OPEN_STAGES}
    for row in rows:
        column = columns[Stage(row["stage"])]
        column.count, column.amount = row["count"], row["amount"] or Decimal(0)
    return list(columns.values())


def board_card(*, user, lead_id: int) -> Lead | None:
    """One lead as a card, whatever its stage, if this user may see it."""
    lead = _cards(Lead.objects.filter(lead_scope(user), pk=lead_id)).first()
    return _with_age([lead])[0] if lead else None
