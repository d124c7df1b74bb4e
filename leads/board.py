"""Reads for the pipeline board (/leads/board/): the cards of each open stage and each column's
count and deal total, for one user (leads.selectors.lead_scope) and the board's filters.

The whole first screen is one query: a window function numbers each stage's leads newest first
and counts and sums the stage over the full filtered set, and the outer query keeps the first
PAGE_SIZE + 1 rows of each stage (the extra row says whether "load more" has anything to load).
Newest first is the order of the (stage, -became_lead_at) index. "Load more" continues a column
with a keyset cursor (became_lead_at, id), so a page never re-reads the rows before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import django_filters
from django import forms
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

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
    """Each open stage's newest `per_column` cards, its count and its deal total, in one query."""
    stage = [F("stage")]
    ranked = (
        _cards(filterset.qs)
        .annotate(
            position=Window(
                RowNumber(), partition_by=stage, order_by=[F("became_lead_at").desc(),
                                                           F("id").desc()]
            ),
            stage_count=Window(Count("id"), partition_by=stage),
            stage_amount=Window(Sum("deal_amount"), partition_by=stage),
        )
        .filter(position__lte=per_column + 1)
        .order_by("stage", "position")
    )
    columns = {s: Column(stage=s) for s in OPEN_STAGES}
    for lead in ranked:
        column = columns[Stage(lead.stage)]
        column.count = lead.stage_count
        column.amount = lead.stage_amount or Decimal(0)
        if lead.position > per_column:
            column.has_more = True
        else:
            column.cards.append(lead)
    for column in columns.values():
        _with_age(column.cards)
    return list(columns.values())


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
