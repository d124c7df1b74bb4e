"""Campaigns, daily metrics and nurture workflows in the Django admin. Marketers manage them here;
reps read them (leads/roles.py grants reps the view permissions only, and the admin's default
has_*_permission checks read those). Every save goes through campaigns/services.py, as every
other door does; the forms check what the services check, so a mistake is a form error, and a
service refusing anyway (a race with another editor) is reported instead of a server error."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, format_html

from leads.admin import ReadOnlyAdminMixin
from leads.models import Lead
from leads.selectors import lead_scope

from .models import METRIC_FIELDS, Campaign, DailyMetric, NurtureEnrolment, NurtureWorkflow
from .services import (
    CAMPAIGN_EDITABLE_FIELDS,
    campaign_create,
    campaign_form_key_rotate,
    campaign_update,
    daily_metric_delete,
    daily_metric_upsert,
    nurture_workflow_create,
)

INTAKE_PATH = "/api/v1/intake/"
EMPTY = "—"


def _service_call(call, **kwargs):
    try:
        return call(**kwargs)
    except (ValidationError, PermissionDenied) as exc:
        # Raised after the form validated (a race); report it instead of a server error.
        raise PermissionDenied(" ".join(getattr(exc, "messages", [str(exc)]))) from exc


class RecentRowsFormSet(BaseInlineFormSet):
    """An inline showing only a parent's most recent rows: a campaign with years of daily figures
    or a workflow with thousands of enrolments would otherwise render every one of them."""

    recent_by: str
    recent_limit: int

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        recent = self.queryset.order_by(self.recent_by, "-pk").values_list("pk", flat=True)
        self.queryset = self.queryset.filter(pk__in=list(recent[: self.recent_limit]))


# --- campaigns ----------------------------------------------------------------------------------


class RecentMetricsFormSet(RecentRowsFormSet):
    recent_by = "-date"
    recent_limit = 31


class DailyMetricInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The campaign's last 31 days of figures, read-only: an editable grid would save rows
    directly instead of through daily_metric_upsert, and figures come in by import, API or the
    daily metric form, whose link is on the campaign page."""

    model = DailyMetric
    formset = RecentMetricsFormSet
    verbose_name_plural = "daily metrics (the 31 most recent days)"
    fields = ["date", "visitors", "sessions", "landing_page_visitors", "impressions", "clicks",
              "spend", "engagements", "emails_sent", "emails_delivered", "emails_opened",
              "emails_clicked"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


def _formfield(db_field, **kwargs):
    if isinstance(db_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")  # Django 6's default; silences its warning
    return db_field.formfield(**kwargs)


class CampaignAdminForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = list(CAMPAIGN_EDITABLE_FIELDS)
        formfield_callback = _formfield

    def clean_utm_campaign(self):
        # As campaign_create/campaign_update: stored lower-case, unique ignoring case.
        value = self.cleaned_data["utm_campaign"].strip().lower()
        taken = Campaign.objects.filter(utm_campaign__iexact=value).exclude(pk=self.instance.pk)
        if taken.exists():
            raise ValidationError("Another campaign already uses this UTM campaign.")
        return value


def campaign_figures(queryset):
    """Spend to date and first-touch leads per campaign, as subqueries: two joins in one
    aggregate would multiply each other's rows."""
    spend = (
        DailyMetric.objects.filter(campaign=OuterRef("pk"), date__lte=timezone.localdate())
        .order_by()
        .values("campaign")
        .annotate(total=Sum("spend"))
        .values("total")
    )
    leads = (
        Lead.objects.filter(first_touch_campaign=OuterRef("pk"))
        .order_by()
        .values("first_touch_campaign")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return queryset.annotate(
        spend_to_date=Subquery(spend), leads_attributed=Coalesce(Subquery(leads), 0)
    )


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignAdminForm
    list_display = ["name", "channel", "status", "owner", "starts_on", "ends_on",
                    "budget_display", "spend_to_date", "leads_attributed"]
    list_filter = ["channel", "status", ("owner", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["owner"]
    search_fields = ["name", "utm_campaign", "utm_source", "utm_medium"]
    date_hierarchy = "starts_on"
    actions = ["rotate_form_key"]
    inlines = [DailyMetricInline]
    readonly_fields = ["form_key", "form_snippet", "metrics_link", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "channel", "owner", "status", "starts_on", "ends_on",
                           "budget"]}),
        ("UTM codes and landing page", {"fields": ["utm_campaign", "utm_source", "utm_medium",
                                                   "landing_page_url"]}),
        ("Web-to-lead form", {"fields": ["form_key", "form_snippet"]}),
        ("Metrics", {"fields": ["metrics_link"]}),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]

    def get_queryset(self, request):
        return campaign_figures(super().get_queryset(request))

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.URLField):
            kwargs.setdefault("assume_scheme", "https")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_object(self, request, object_id, from_field=None):
        campaign = super().get_object(request, object_id, from_field)
        if campaign is not None:
            # The snippet posts to this server's address; the display method has no request.
            campaign.intake_url = request.build_absolute_uri(INTAKE_PATH)
        return campaign

    def get_fieldsets(self, request, obj=None):
        if obj is None:  # no key, snippet or figures before the campaign exists
            return [(None, self.fieldsets[0][1]), self.fieldsets[1]]
        return self.fieldsets

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False  # leads and spend are attributed to it; end it (status) instead

    @admin.display(description="budget", ordering="budget")
    def budget_display(self, obj):
        return EMPTY if obj.budget is None else f"{obj.budget:,.2f}"

    @admin.display(description="spend to date", ordering="spend_to_date")
    def spend_to_date(self, obj):
        return EMPTY if obj.spend_to_date is None else f"{obj.spend_to_date:,.2f}"

    @admin.display(description="leads (first touch)", ordering="leads_attributed")
    def leads_attributed(self, obj):
        return obj.leads_attributed

    @admin.display(description="website form")
    def form_snippet(self, obj):
        snippet = _intake_form_html(obj, getattr(obj, "intake_url", INTAKE_PATH))
        return format_html(
            '<textarea readonly rows="14" cols="90" onfocus="this.select()" '
            'style="font-family: monospace">{}</textarea>'
            "<p class=\"help\">Copy this into the website's page. Rotating the form key (an "
            "action on the campaign list) stops this snippet working until it is pasted "
            "again.</p>",
            snippet,
        )

    @admin.display(description="daily metrics")
    def metrics_link(self, obj):
        url = reverse("admin:campaigns_dailymetric_changelist")
        return format_html('<a href="{}?campaign__id__exact={}">Every day of {}</a>', url,
                           obj.pk, obj)

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in CAMPAIGN_EDITABLE_FIELDS if f in form.cleaned_data}
        if change:
            _service_call(campaign_update, campaign=obj, actor=request.user, data=data)
        else:
            # No owner chosen: the service makes the creating user the owner.
            obj.pk = _service_call(campaign_create, actor=request.user, **data).pk

    @admin.action(description="Rotate form key", permissions=["change"])
    def rotate_form_key(self, request, queryset):
        rotated = 0
        for campaign in queryset.order_by("pk"):
            campaign_form_key_rotate(campaign=campaign, actor=request.user)
            rotated += 1
        self.message_user(
            request,
            f"New form key for {rotated} campaign(s). The old keys no longer work: paste the new "
            "form snippet into the website.",
            messages.SUCCESS,
        )


def _intake_form_html(campaign: Campaign, action: str) -> str:
    """A plain HTML form for a website, posting to the web-to-lead endpoint. The `website` input
    is the honeypot (campaigns/intake.py): hidden from people by CSS, filled in by bots."""
    hidden = {
        "form_key": campaign.form_key,
        "utm_source": campaign.utm_source,
        "utm_medium": campaign.utm_medium,
        "utm_campaign": campaign.utm_campaign,
        "utm_content": "",
        "utm_term": "",
    }
    lines = [f'<form method="post" action="{escape(action)}">']
    lines += [f'  <input type="hidden" name="{k}" value="{escape(v)}">' for k, v in hidden.items()]
    lines += [
        '  <label>Email <input type="email" name="email" required></label>',
        '  <label>First name <input type="text" name="first_name"></label>',
        '  <label>Last name <input type="text" name="last_name"></label>',
        '  <label>Company <input type="text" name="company"></label>',
        '  <div style="position:absolute;left:-10000px" aria-hidden="true">',
        '    <input type="text" name="website" tabindex="-1" autocomplete="off">',
        "  </div>",
        '  <button type="submit">Send</button>',
        "</form>",
    ]
    return "\n".join(lines)


# --- daily metrics ------------------------------------------------------------------------------


class DailyMetricAdminForm(forms.ModelForm):
    class Meta:
        model = DailyMetric
        fields = ["date", "channel", "campaign", *METRIC_FIELDS]

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None and {"date", "channel"} <= cleaned.keys():
            taken = DailyMetric.objects.filter(
                date=cleaned["date"], channel=cleaned["channel"], campaign=cleaned.get("campaign")
            )
            if taken.exists():
                # On the date field, which also spares the database constraint's generic message.
                self.add_error(
                    "date",
                    "This day already has figures for this channel and campaign: change that "
                    "row instead.",
                )
        return cleaned


@admin.register(DailyMetric)
class DailyMetricAdmin(admin.ModelAdmin):
    form = DailyMetricAdminForm
    list_display = ["date", "channel", "campaign", "visitors", "sessions", "impressions",
                    "clicks", "spend", "emails_sent", "emails_delivered", "emails_opened",
                    "emails_clicked"]
    list_filter = ["channel", "campaign"]
    list_select_related = ["campaign"]
    search_fields = ["campaign__name", "campaign__utm_campaign"]
    date_hierarchy = "date"
    fieldsets = [
        (None, {"fields": ["date", "channel", "campaign"]}),
        ("Traffic", {"fields": ["visitors", "sessions", "pageviews", "bounced_sessions",
                                "time_on_site_seconds", "landing_page_visitors"]}),
        ("Search and ads", {"fields": ["organic_impressions", "ranked_keywords", "impressions",
                                       "clicks", "spend"]}),
        ("Social", {"fields": ["followers", "engagements"]}),
        ("Email", {"fields": ["emails_sent", "emails_delivered", "emails_opened",
                              "emails_clicked", "emails_unsubscribed"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return ["date", "channel", "campaign"]  # the row's identity: add another day instead
        return []

    def save_model(self, request, obj, form, change):
        values = {f: form.cleaned_data.get(f) for f in METRIC_FIELDS}
        metric, _ = _service_call(
            daily_metric_upsert, actor=request.user, date=obj.date, channel=obj.channel,
            campaign=obj.campaign, values=values,
        )
        obj.pk = metric.pk

    def delete_model(self, request, obj):
        _service_call(daily_metric_delete, actor=request.user, metric=obj)

    def delete_queryset(self, request, queryset):
        for metric in queryset:
            _service_call(daily_metric_delete, actor=request.user, metric=metric)


# --- nurture ------------------------------------------------------------------------------------


class RecentEnrolmentsFormSet(RecentRowsFormSet):
    recent_by = "-entered_at"
    recent_limit = 100


class NurtureEnrolmentInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Read-only: enrolments are written by the nurture services (enrol, close)."""

    model = NurtureEnrolment
    formset = RecentEnrolmentsFormSet
    verbose_name_plural = "enrolments (most recent 100 you may see)"
    fields = ["lead", "entered_at", "goal_reached_at", "exited_at"]
    readonly_fields = fields
    raw_id_fields = ["lead"]
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        # A rep sees only their own leads here, as everywhere (leads/selectors.py).
        return (
            super().get_queryset(request)
            .filter(lead__in=Lead.objects.filter(lead_scope(request.user)))
            .select_related("lead")
        )


@admin.register(NurtureWorkflow)
class NurtureWorkflowAdmin(admin.ModelAdmin):
    list_display = ["name", "campaign", "goal", "is_active", "enrolled", "goal_reached",
                    "goal_rate"]
    list_filter = ["is_active", "campaign__channel"]
    list_select_related = ["campaign"]
    search_fields = ["name", "goal", "campaign__name"]
    fields = ["name", "goal", "campaign", "is_active", "created_at"]
    readonly_fields = ["is_active", "created_at"]
    inlines = [NurtureEnrolmentInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            enrolled_count=Count("enrolments"),
            goal_count=Count("enrolments", filter=Q(enrolments__goal_reached_at__isnull=False)),
        )

    def get_fields(self, request, obj=None):
        return ["name", "goal", "campaign"] if obj is None else self.fields

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def has_change_permission(self, request, obj=None):
        # There is a service to create a workflow but none to change one yet: view only.
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # its enrolments are the goal-rate history

    @admin.display(description="enrolled", ordering="enrolled_count")
    def enrolled(self, obj):
        return obj.enrolled_count

    @admin.display(description="goal reached", ordering="goal_count")
    def goal_reached(self, obj):
        return obj.goal_count

    @admin.display(description="goal rate")
    def goal_rate(self, obj):
        # Workflow goal rate (PRODUCT.md): enrolments that reached the goal / enrolments.
        if not obj.enrolled_count:
            return EMPTY
        return f"{obj.goal_count / obj.enrolled_count:.1%}"

    def save_model(self, request, obj, form, change):
        workflow = _service_call(
            nurture_workflow_create, actor=request.user, name=form.cleaned_data["name"],
            goal=form.cleaned_data["goal"], campaign=form.cleaned_data.get("campaign"),
        )
        obj.pk = workflow.pk
