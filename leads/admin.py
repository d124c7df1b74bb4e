from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from .exceptions import LeadVersionConflict, LifecycleRuleError
from .models import Account, Activity, Lead, SavedLeadView, StageTransition
from .scoring.admin import LeadScoreItemInline
from .selectors import lead_scope
from .services import (
    ACCOUNT_EDITABLE_FIELDS,
    LEAD_EDITABLE_FIELDS,
    account_create,
    account_update,
    activity_create,
    lead_assign_owner,
    lead_create,
    lead_move_to_stage,
    lead_update,
)
from .stages import Stage


class ReadOnlyAdminMixin:
    """For the audit trail: viewable, never added to, changed or deleted."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class StageTransitionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = StageTransition
    fields = ["at", "from_stage", "to_stage", "actor_label", "note", "reason"]
    readonly_fields = fields
    ordering = ["-at", "-id"]
    extra = 0
    can_delete = False

    @admin.display(description="actor")
    def actor_label(self, obj):
        return obj.actor_label


class LeadActionForm(ActionForm):
    to_stage = forms.ChoiceField(choices=[("", "— stage —"), *Stage.choices], required=False)
    note = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "note"}))
    reason = forms.CharField(
        required=False, widget=forms.TextInput(attrs={"placeholder": "reason (lost/disqualified)"})
    )


class LeadAdminForm(forms.ModelForm):
    """Carries the version the editor read, so that a save over someone else's change is refused
    instead of silently overwriting it."""

    read_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Lead
        fields = [*LEAD_EDITABLE_FIELDS, "owner"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["read_version"].initial = self.instance.version

    def clean(self):
        cleaned = super().clean()
        read = cleaned.get("read_version")
        if self.instance.pk and read is not None:
            current = Lead.objects.filter(pk=self.instance.pk).values_list("version", flat=True)
            if current and current[0] != read:
                raise forms.ValidationError(
                    "Someone else changed this lead while you were editing it. Reload the page "
                    "to see their change, then make yours again."
                )
        return cleaned


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    form = LeadAdminForm
    list_display = ["__str__", "email", "account", "owner", "stage", "score", "first_touch_channel",
                    "became_lead_at"]
    list_filter = ["stage", "owner", "first_touch_channel", "last_touch_channel"]
    search_fields = ["email", "first_name", "last_name", "account__name"]
    list_select_related = ["owner", "account"]
    autocomplete_fields = ["account"]
    date_hierarchy = "became_lead_at"
    inlines = [LeadScoreItemInline, StageTransitionInline]
    action_form = LeadActionForm
    actions = ["move_to_stage"]
    readonly_fields = [
        "stage", "score", "ready_for_sales_at", "became_lead_at", "became_mql_at", "became_sql_at",
        "became_opportunity_at", "became_won_at", "closed_at", "exit_reason", "version",
        "created_at", "updated_at", "last_touch_channel", "last_touch_campaign", "last_touch_at",
        "landing_page", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term",
    ]
    fieldsets = [
        (None, {"fields": ["first_name", "last_name", "email", "phone", "job_title", "account",
                           "read_version"]}),
        ("Pipeline", {"fields": ["owner", "stage", "score", "ready_for_sales_at", "deal_amount",
                                 "closed_at", "exit_reason", "version"]}),
        ("Attribution", {"fields": [
            "first_touch_channel", "first_touch_campaign", "last_touch_channel",
            "last_touch_campaign", "last_touch_at", "cta", "landing_page", "utm_source",
            "utm_medium", "utm_campaign", "utm_content", "utm_term",
        ]}),
        ("First reached", {"fields": ["became_lead_at", "became_mql_at", "became_sql_at",
                                      "became_opportunity_at", "became_won_at"]}),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(lead_scope(request.user))

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.has_perm("leads.reassign_lead"):
            fields.append("owner")
        return fields

    def has_delete_permission(self, request, obj=None):
        return False  # a lead's history is the audit trail; close it instead

    def save_model(self, request, obj, form, change):
        # Admin edits go through the same services as every other door.
        data = {f: form.cleaned_data[f] for f in LEAD_EDITABLE_FIELDS if f in form.cleaned_data}
        try:
            if change:
                with transaction.atomic():
                    lead = lead_update(
                        lead=obj, actor=request.user, data=data,
                        expected_version=form.cleaned_data.get("read_version"),
                    )
                    if "owner" in form.changed_data:
                        lead_assign_owner(lead=lead, owner=form.cleaned_data["owner"],
                                          actor=request.user)
            else:
                owner = form.cleaned_data.get("owner")
                data["channel"] = data.pop("first_touch_channel", None)
                data["campaign"] = data.pop("first_touch_campaign", None)
                lead = lead_create(actor=request.user, owner=owner, **data)
                obj.pk = lead.pk
        except (ValidationError, PermissionDenied, LeadVersionConflict) as exc:
            # Raised after the form validated (a race); report it instead of a server error.
            raise PermissionDenied(str(exc)) from exc

    @admin.action(description="Move selected leads to the chosen stage", permissions=["change"])
    def move_to_stage(self, request, queryset):
        form = LeadActionForm(request.POST)
        form.is_valid()
        to_stage = form.cleaned_data.get("to_stage")
        if not to_stage:
            self.message_user(request, "Choose a stage to move the leads to.", messages.ERROR)
            return
        moved, failed = 0, []
        for lead in queryset.order_by("pk"):
            try:
                lead_move_to_stage(
                    lead=lead,
                    to_stage=to_stage,
                    actor=request.user,
                    note=form.cleaned_data.get("note", ""),
                    reason=form.cleaned_data.get("reason", ""),
                )
                moved += 1
            except (LifecycleRuleError, LeadVersionConflict, PermissionDenied) as exc:
                failed.append(f"{lead}: {exc}")
        if moved:
            self.message_user(request, f"Moved {moved} lead(s) to {Stage(to_stage).label}.",
                              messages.SUCCESS)
        for line in failed:
            self.message_user(request, f"Not moved: {line}", messages.ERROR)


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "domain", "industry", "employees", "country", "churned_at"]
    list_filter = ["industry", "country"]
    search_fields = ["name", "domain"]
    fields = list(ACCOUNT_EDITABLE_FIELDS)

    def has_delete_permission(self, request, obj=None):
        return False  # leads point at accounts; keep the history whole

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in ACCOUNT_EDITABLE_FIELDS}
        if change:
            account_update(account=obj, actor=request.user, data=data)
        else:
            obj.pk = account_create(actor=request.user, **data).pk


@admin.register(StageTransition)
class StageTransitionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["lead", "from_stage", "to_stage", "at", "actor_user", "actor_system"]
    list_filter = ["to_stage", "from_stage", "actor_system"]
    search_fields = ["lead__email"]
    list_select_related = ["lead", "actor_user"]
    date_hierarchy = "at"

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("leads.view_stagetransition")

    def get_queryset(self, request):
        return super().get_queryset(request).filter(
            lead__in=Lead.objects.filter(lead_scope(request.user))
        )


class ActivityAdminForm(forms.ModelForm):
    class Meta:
        model = Activity
        fields = ["lead", "type", "at", "payload"]


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    form = ActivityAdminForm
    list_display = ["lead", "type", "at", "actor_user", "actor_system"]
    list_filter = ["type"]
    search_fields = ["lead__email"]
    list_select_related = ["lead", "actor_user"]
    autocomplete_fields = ["lead"]
    date_hierarchy = "at"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(
            lead__in=Lead.objects.filter(lead_scope(request.user))
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "lead":
            kwargs["queryset"] = Lead.objects.filter(lead_scope(request.user))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        return False  # activities are facts; log a new one instead

    def save_model(self, request, obj, form, change):
        activity = activity_create(
            lead=form.cleaned_data["lead"],
            type=form.cleaned_data["type"],
            at=form.cleaned_data["at"],
            payload=form.cleaned_data["payload"],
            actor=request.user,
        )
        obj.pk = activity.pk


@admin.register(SavedLeadView)
class SavedLeadViewAdmin(admin.ModelAdmin):
    """Users' saved lead-list views: read and remove here, created from the lead list."""

    list_display = ["name", "owner", "query", "created_at"]
    list_filter = ["owner"]
    search_fields = ["name", "owner__username"]
    readonly_fields = ["owner", "name", "query", "created_at"]

    def has_add_permission(self, request):
        return False
