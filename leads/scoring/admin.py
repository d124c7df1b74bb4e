"""Scoring in the Django admin. Saves go through the scoring services, so a change of rules or
thresholds always starts the background rescore and keeps the settings' history."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError

from .models import LeadScoreItem, RescoreRun, ScoringRule, ScoringSettings, ScoringSettingsChange
from .services import (
    SETTINGS_FIELDS,
    rescore_run_latest,
    rescore_run_request,
    scoring_rule_delete,
    scoring_rule_save,
    scoring_settings_update,
)


def _rescore_message(request):
    run = rescore_run_latest()
    if run:
        messages.info(request, f"Every lead is being rescored in the background ({run}).")


@admin.register(ScoringRule)
class ScoringRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "points", "field", "operator", "value", "activity_type", "cap",
                    "active"]
    list_filter = ["kind", "active", "activity_type", "field"]
    search_fields = ["name", "value"]
    fieldsets = [
        (None, {"fields": ["name", "active", "kind", "points"]}),
        ("Fit rule: a condition on the lead or its account",
         {"fields": ["field", "operator", "value"]}),
        ("Engagement rule: points per activity, decaying with the half-life",
         {"fields": ["activity_type", "cap"]}),
    ]
    actions = ["rescore_now"]

    def save_model(self, request, obj, form, change):
        scoring_rule_save(actor=request.user, rule=obj)
        _rescore_message(request)

    def delete_model(self, request, obj):
        scoring_rule_delete(actor=request.user, rule=obj)

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            scoring_rule_delete(actor=request.user, rule=rule)

    @admin.action(description="Rescore every lead now", permissions=["change"])
    def rescore_now(self, request, queryset):
        rescore_run_request(reason="requested in the admin")
        _rescore_message(request)


@admin.register(ScoringSettings)
class ScoringSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "mql_threshold", "sql_threshold", "sql_auto_promote",
                    "half_life_days", "updated_at", "latest_rescore"]
    fields = [*SETTINGS_FIELDS, "history"]
    readonly_fields = ["history"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="latest rescore")
    def latest_rescore(self, obj):
        return rescore_run_latest() or "none yet"

    @admin.display(description="history of changes")
    def history(self, obj):
        from django.utils.html import format_html_join

        rows = ScoringSettingsChange.objects.select_related("changed_by")[:20]
        return format_html_join(
            "", "<div>{} by {}: {} → {}</div>",
            ((f"{c.changed_at:%Y-%m-%d %H:%M}", c.changed_by or "system", c.before, c.after)
             for c in rows),
        ) or "no changes yet"

    def save_model(self, request, obj, form, change):
        try:
            scoring_settings_update(
                actor=request.user, **{f: form.cleaned_data[f] for f in form.changed_data
                                       if f in SETTINGS_FIELDS}
            )
        except (ValidationError, PermissionDenied) as exc:
            raise PermissionDenied(str(exc)) from exc
        _rescore_message(request)


@admin.register(RescoreRun)
class RescoreRunAdmin(admin.ModelAdmin):
    list_display = ["id", "status", "reason", "progress", "promoted", "requested_at",
                    "started_at", "finished_at"]
    list_filter = ["status"]
    readonly_fields = [f.name for f in RescoreRun._meta.fields] + ["progress"]

    @admin.display(description="progress")
    def progress(self, obj):
        return f"{obj.done} / {obj.total} ({obj.percent}%)"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class LeadScoreItemInline(admin.TabularInline):
    model = LeadScoreItem
    fields = ["rule", "points", "count"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "score breakdown (rules that fired)"

    def has_view_permission(self, request, obj=None):
        # Whoever may see the lead sees why it has its score (the lead admin scopes the lead).
        return request.user.has_perm("leads.view_lead")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
