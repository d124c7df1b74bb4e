"""The scoring settings page (/settings/scoring/, admins: `page_access("scoring")`): thresholds,
rules and the progress of the background rescore. Every change goes through the scoring services
(`leads.scoring.services`), which keep the settings' history and queue a rescore of every lead;
the progress fragment polls itself with htmx while a rescore is queued or running."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from funnelcrm.navigation import page_access

from .scoring.forms import ScoringRuleForm, ScoringSettingsForm
from .scoring.models import RuleKind, ScoringRule
from .scoring.services import (
    SETTINGS_FIELDS,
    rescore_run_latest,
    rescore_run_request,
    scoring_rule_save,
    scoring_settings_get,
    scoring_settings_update,
)

RESCORE_QUEUED = "Every lead is being rescored in the background: see the progress below."


def _page(request, *, settings_form=None, status=200):
    rules = list(ScoringRule.objects.order_by("kind", "name", "id"))
    return render(request, "settings/scoring.html", {
        "settings_form": settings_form or ScoringSettingsForm(instance=scoring_settings_get()),
        "fit_rules": [r for r in rules if r.kind == RuleKind.FIT],
        "engagement_rules": [r for r in rules if r.kind == RuleKind.ENGAGEMENT],
        "run": rescore_run_latest(),
    }, status=status)


@require_GET
@page_access("scoring")
def scoring_page(request):
    return _page(request)


@require_POST
@page_access("scoring")
def scoring_thresholds(request):
    form = ScoringSettingsForm(request.POST, instance=scoring_settings_get())
    if form.is_valid():
        changes = {name: form.cleaned_data[name] for name in SETTINGS_FIELDS
                   if name in form.changed_data}
        try:
            scoring_settings_update(actor=request.user, **changes)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            if changes:
                messages.success(request, f"Thresholds saved. {RESCORE_QUEUED}")
            else:
                messages.info(request, "Nothing changed: the thresholds are as they were.")
            return redirect("settings:scoring")
    return _page(request, settings_form=form, status=400)


@page_access("scoring")
def scoring_rule_edit(request, pk: int | None = None):
    """Create (no pk) or change a rule."""
    rule = get_object_or_404(ScoringRule, pk=pk) if pk else None
    initial = {"kind": request.GET.get("kind")} if request.GET.get("kind") in RuleKind else {}
    form = ScoringRuleForm(request.POST or None, instance=rule, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = scoring_rule_save(actor=request.user, rule=form.save(commit=False))
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            verb = "changed" if rule else "created"
            messages.success(request, f"Rule “{saved.name}” {verb}. {RESCORE_QUEUED}")
            return redirect("settings:scoring")
    status = 400 if request.method == "POST" else 200
    return render(request, "settings/rule_form.html", {"form": form, "rule": rule},
                  status=status)


@require_POST
@page_access("scoring")
def scoring_rule_toggle(request, pk: int):
    rule = get_object_or_404(ScoringRule, pk=pk)
    rule.active = not rule.active
    scoring_rule_save(actor=request.user, rule=rule)
    state = "enabled" if rule.active else "disabled"
    messages.success(request, f"Rule “{rule.name}” {state}. {RESCORE_QUEUED}")
    return redirect("settings:scoring")


@page_access("scoring")
def scoring_rescore(request):
    """GET: the progress fragment (htmx polls it). POST: queue a rescore of every lead."""
    if request.method == "POST":
        rescore_run_request(reason=f"requested on the scoring page by {request.user}")
        messages.success(request, RESCORE_QUEUED)
        return redirect("settings:scoring")
    return render(request, "settings/_rescore.html", {"run": rescore_run_latest()})


