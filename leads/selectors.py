"""Reads. Lead visibility is decided here, once; every door (pages, API, admin, exports) asks."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.db.models.functions import Lower

from .models import Lead, StageTransition


def lead_scope(user) -> Q:
    """The leads a user may see and work on: their own, or all with `leads.view_all_leads`."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    if not user.has_perm("leads.view_lead"):
        return Q(pk__in=[])
    if user.has_perm("leads.view_all_leads"):
        return Q()
    return Q(owner=user)


def lead_list(*, user, filters: dict | None = None) -> QuerySet[Lead]:
    from .filters import LeadFilter

    qs = (
        Lead.objects.filter(lead_scope(user))
        .select_related("owner", "account", "first_touch_campaign", "last_touch_campaign")
        .prefetch_related("score_items__rule")
    )
    if filters is not None:
        qs = LeadFilter(filters, queryset=qs).qs
    return qs


def lead_get(*, user, lead_id) -> Lead | None:
    return lead_list(user=user).filter(pk=lead_id).first()


def lead_is_visible(*, user, lead: Lead) -> bool:
    return Lead.objects.filter(lead_scope(user), pk=lead.pk).exists()


def lead_transitions(*, lead: Lead) -> QuerySet[StageTransition]:
    return lead.transitions.select_related("actor_user").order_by("-at", "-id")


def saved_lead_view_list(*, user):
    """The user's own saved lead-list views, by name; never another user's."""
    from .models import SavedLeadView

    return SavedLeadView.objects.filter(owner=user).order_by(Lower("name"), "id")
