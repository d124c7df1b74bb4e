"""The lead page (/leads/<id>/): fields, stage and first-reached dates, attribution, the score
breakdown, the timeline, and the forms that move the stage and log an activity.

A lead the user may not see is a 404 on every door here, as in the API."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from funnelcrm.navigation import page_access

from .exceptions import LeadVersionConflict, LifecycleRuleError
from .forms_lead import ActivityForm, LeadMoveForm
from .models import Lead, ScoringSettings
from .services import activity_create, lead_disqualify, lead_mark_lost, lead_move_to_stage
from .stages import Stage
from .timeline import lead_page_get, lead_stage_dates, lead_timeline


def lead_move_apply(
    *, lead: Lead, actor, to_stage: str, version: int | None, reason: str = "", note: str = ""
) -> Lead:
    """A move asked for by a page: the exits through their own services, the rest through
    lead_move_to_stage. Raises what they raise."""
    options = {"lead": lead, "actor": actor, "note": note, "expected_version": version}
    if to_stage == Stage.LOST:
        return lead_mark_lost(reason=reason, **options)
    if to_stage == Stage.DISQUALIFIED:
        return lead_disqualify(reason=reason, **options)
    return lead_move_to_stage(to_stage=to_stage, reason=reason, **options)


def _lead(request, pk: int) -> Lead:
    lead = lead_page_get(user=request.user, lead_id=pk)
    if lead is None:
        raise Http404("No such lead.")
    return lead


def _render(request, lead: Lead, *, move_form=None, activity_form=None, status=200, conflict=""):
    scoring = ScoringSettings.objects.filter(pk=1).first() or ScoringSettings()
    items = list(lead.score_items.all())
    context = {
        "lead": lead,
        "stage_dates": lead_stage_dates(lead),
        "timeline": lead_timeline(lead=lead),
        "score_items": items,
        "score_unexplained": lead.score - sum(item.points for item in items),
        "scoring": scoring,
        "move_form": move_form or LeadMoveForm(lead=lead),
        "activity_form": activity_form or ActivityForm(),
        "conflict": conflict,
    }
    return render(request, "leads/detail.html", context, status=status)


@page_access("leads")
@require_GET
def lead_detail(request, pk: int):
    return _render(request, _lead(request, pk))


@page_access("leads")
@require_POST
def lead_move(request, pk: int):
    """POST /leads/<id>/move/: the move form. Success redirects to the page with a message; a
    refusal shows the form again with the rule's message on its field."""
    lead = _lead(request, pk)
    form = LeadMoveForm(request.POST, lead=lead)
    if not form.is_valid():
        return _render(request, lead, move_form=form, status=400)
    data = form.cleaned_data
    try:
        lead_move_apply(
            lead=lead, actor=request.user, to_stage=data["to_stage"], version=data["version"],
            reason=data["reason"], note=data["note"],
        )
    except LeadVersionConflict as exc:
        # Show the lead as it is now; the user's choice stays filled in to apply it again.
        lead = _lead(request, pk)
        fresh = LeadMoveForm(
            lead=lead, initial={**{k: data[k] for k in ("to_stage", "reason", "note")},
                                "version": lead.version},
        )
        conflict = (
            f"Not moved: someone else changed this lead while you were looking at it (you had "
            f"version {exc.expected_version}, it is now at version {exc.current_version}). The "
            "page now shows it as it is; check it, then move it again if you still want to."
        )
        return _render(request, lead, move_form=fresh, status=409, conflict=conflict)
    except LifecycleRuleError as exc:
        form.add_rule_error(exc)
        return _render(request, lead, move_form=form, status=400)
    except PermissionDenied as exc:
        form.add_error(None, str(exc) or "You may not change this lead.")
        return _render(request, lead, move_form=form, status=403)
    messages.success(request, f"{lead} moved to {Stage(data['to_stage']).label}.")
    return redirect(reverse("leads:detail", args=[pk]))


@page_access("leads")
@require_POST
def lead_activity(request, pk: int):
    """POST /leads/<id>/activities/: log an activity (a call, a meeting, a reply...)."""
    lead = _lead(request, pk)
    form = ActivityForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            activity = activity_create(
                lead=lead, type=data["type"], actor=request.user, at=data["at"],
                payload={"note": data["note"]} if data["note"] else None,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except PermissionDenied as exc:
            form.add_error(None, str(exc) or "You may not change this lead.")
        else:
            messages.success(request, f"{activity.get_type_display()} logged.")
            return redirect(reverse("leads:detail", args=[pk]) + "#timeline")
    return _render(request, lead, activity_form=form, status=400)
