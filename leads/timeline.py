"""Reads for the lead page (/leads/<id>/): the lead with what the page shows beside it, and its
timeline of stage transitions and activities merged, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch

from .actors import SystemActor
from .models import Activity, Lead, LeadScoreItem, StageTransition
from .selectors import lead_scope, lead_transitions
from .stages import FUNNEL, Stage

# The page lists this many timeline entries, the newest; it says when older ones exist.
TIMELINE_LIMIT = 100


def lead_page_get(*, user, lead_id: int) -> Lead | None:
    """The lead if this user may see it, with its owner, account, campaigns and score breakdown
    (two queries)."""
    items = LeadScoreItem.objects.select_related("rule").order_by("-points", "rule__name")
    return (
        Lead.objects.filter(lead_scope(user), pk=lead_id)
        .select_related("owner", "account", "first_touch_campaign", "last_touch_campaign")
        .prefetch_related(Prefetch("score_items", queryset=items))
        .first()
    )


@dataclass
class Entry:
    kind: str  # "transition" or "activity"
    at: datetime
    item: StageTransition | Activity
    actor: str

    @property
    def sort_key(self):
        # Same instant: the transition is what happened after (a stage move logged with its call).
        return (self.at, self.kind == "transition", self.item.pk)


def _actor(item) -> str:
    if item.actor_user_id:
        user = item.actor_user
        return user.get_full_name() or user.get_username()
    return SystemActor(item.actor_system).label if item.actor_system else "Unknown"


@dataclass
class Timeline:
    entries: list[Entry]  # newest first
    older_hidden: bool  # older entries exist that the page does not list


def lead_timeline(*, lead: Lead, limit: int = TIMELINE_LIMIT) -> Timeline:
    """The lead's newest `limit` entries, transitions and activities merged newest first (two
    queries: the newest `limit` + 1 of each hold the newest `limit` of both)."""
    transitions = list(lead_transitions(lead=lead)[: limit + 1])
    activities = list(lead.activities.select_related("actor_user").order_by("-at", "-id")[
        : limit + 1])
    entries = [Entry("transition", t.at, t, _actor(t)) for t in transitions]
    entries += [Entry("activity", a.at, a, _actor(a)) for a in activities]
    entries.sort(key=lambda e: e.sort_key, reverse=True)
    return Timeline(entries=entries[:limit], older_hidden=len(entries) > limit)


@dataclass
class StageDate:
    stage: Stage
    at: datetime | None
    current: bool


def lead_stage_dates(lead: Lead) -> list[StageDate]:
    """The first time the lead reached each funnel stage (None: not yet)."""
    return [StageDate(s, lead.reached_at(s), lead.stage == s) for s in FUNNEL]
