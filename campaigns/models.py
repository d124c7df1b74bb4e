"""Channels, campaigns, daily marketing metrics and nurture workflows (PRODUCT.md, "Campaigns,
channels, marketing metrics"). Attribution lives on the lead; the rules that set it live in
`campaigns/attribution.py`."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class Channel(models.TextChoices):
    ORGANIC_SEARCH = "organic_search", "Organic search"
    PAID_SEARCH = "paid_search", "Paid search"
    PAID_SOCIAL = "paid_social", "Paid social"
    ORGANIC_SOCIAL = "organic_social", "Organic social"
    EMAIL = "email", "Email"
    REFERRAL = "referral", "Referral"
    DIRECT = "direct", "Direct"
    EVENTS = "events", "Events"
    OTHER = "other", "Other"


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    ENDED = "ended", "Ended"


def form_key_new() -> str:
    """A campaign's web-to-lead key: public (it sits in a website's form), so it only proves
    which campaign a submission came through, never who sent it."""
    return secrets.token_urlsafe(24)


class Campaign(models.Model):
    name = models.CharField(max_length=200)
    channel = models.CharField(max_length=32, choices=Channel.choices)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="campaigns",
    )
    status = models.CharField(
        max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)
    budget = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True, help_text="Planned spend."
    )
    utm_campaign = models.SlugField(
        "UTM campaign", max_length=200, unique=True,
        help_text="The utm_campaign value that attributes a lead to this campaign.",
    )
    utm_source = models.CharField("UTM source", max_length=100, blank=True)
    utm_medium = models.CharField("UTM medium", max_length=100, blank=True)
    landing_page_url = models.URLField(max_length=500, blank=True)
    form_key = models.CharField(
        max_length=64,
        unique=True,
        default=form_key_new,
        editable=False,
        help_text="The key a website's form sends to POST /api/v1/intake/.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(channel__in=Channel.values), name="campaign_channel_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=CampaignStatus.values), name="campaign_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True)
                | Q(starts_on__isnull=True)
                | Q(ends_on__gte=F("starts_on")),
                name="campaign_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(budget__isnull=True) | Q(budget__gte=0), name="campaign_budget_positive"
            ),
        ]
        indexes = [models.Index(fields=["channel", "status"], name="campaign_channel_status_idx")]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValidationError({"ends_on": "A campaign cannot end before it starts."})


# DailyMetric's figures, by group (the table). The importer, the admin and the API read
# these names; a KPI reads the columns.
TRAFFIC_FIELDS = (
    "visitors", "sessions", "pageviews", "bounced_sessions", "time_on_site_seconds",
    "landing_page_visitors",
)
SEARCH_AND_ADS_FIELDS = ("organic_impressions", "ranked_keywords", "impressions", "clicks", "spend")
SOCIAL_FIELDS = ("followers", "engagements")
EMAIL_FIELDS = (
    "emails_sent", "emails_delivered", "emails_opened", "emails_clicked", "emails_unsubscribed",
)
METRIC_FIELDS = TRAFFIC_FIELDS + SEARCH_AND_ADS_FIELDS + SOCIAL_FIELDS + EMAIL_FIELDS

# A part never exceeds its whole: (part, whole).
METRIC_PARTS = (
    ("bounced_sessions", "sessions"),
    ("emails_delivered", "emails_sent"),
    ("emails_opened", "emails_delivered"),
    ("emails_clicked", "emails_delivered"),
    ("emails_unsubscribed", "emails_delivered"),
)


def _count(help_text: str = "") -> models.PositiveBigIntegerField:
    # A missing figure is unknown, not zero: every count is nullable.
    return models.PositiveBigIntegerField(null=True, blank=True, help_text=help_text)


class DailyMetric(models.Model):
    """One day's marketing figures for a channel, or for one campaign of that channel."""

    date = models.DateField()
    channel = models.CharField(max_length=32, choices=Channel.choices)
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.CASCADE, related_name="daily_metrics"
    )

    visitors = _count()
    sessions = _count()
    pageviews = _count()
    bounced_sessions = _count()
    time_on_site_seconds = _count("Total time on site of all sessions, in seconds.")
    landing_page_visitors = _count()

    organic_impressions = _count()
    ranked_keywords = _count()
    impressions = _count("Paid impressions (ads, promoted posts).")
    clicks = _count()
    spend = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)

    followers = _count()
    engagements = _count()

    emails_sent = _count()
    emails_delivered = _count()
    emails_opened = _count("Unique opens.")
    emails_clicked = _count("Unique clicks.")
    emails_unsubscribed = _count()

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-date", "channel", "campaign_id"]
        constraints = [
            # Unique on (date, channel, campaign-or-none), portable to SQLite: NULLs are distinct
            # in a plain unique constraint, so the channel-level row has its own.
            models.UniqueConstraint(
                fields=["date", "channel", "campaign"],
                condition=Q(campaign__isnull=False),
                name="dailymetric_unique_campaign_day",
            ),
            models.UniqueConstraint(
                fields=["date", "channel"],
                condition=Q(campaign__isnull=True),
                name="dailymetric_unique_channel_day",
            ),
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values), name="dailymetric_channel_valid"
            ),
            models.CheckConstraint(
                condition=Q(spend__isnull=True) | Q(spend__gte=0), name="dailymetric_spend_positive"
            ),
            *(
                models.CheckConstraint(
                    condition=Q(**{f"{part}__isnull": True})
                    | Q(**{f"{whole}__isnull": True})
                    | Q(**{f"{part}__lte": F(whole)}),
                    name=f"dailymetric_{part}_within_{whole}",
                )
                for part, whole in METRIC_PARTS
            ),
        ]
        indexes = [
            models.Index(fields=["channel", "date"], name="dailymetric_channel_date_idx"),
            models.Index(fields=["campaign", "date"], name="dailymetric_campaign_date_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.date} · {self.campaign or self.get_channel_display()}"

    def clean(self):
        from django.core.exceptions import ValidationError

        errors = {}
        if self.campaign_id and self.campaign and self.campaign.channel != self.channel:
            errors["campaign"] = (
                f"Campaign {self.campaign.utm_campaign} belongs to channel "
                f"{self.campaign.channel}, not {self.channel}."
            )
        for part, whole in METRIC_PARTS:
            p, w = getattr(self, part), getattr(self, whole)
            if p is not None and w is not None and p > w:
                errors[part] = f"{part} ({p}) cannot exceed {whole} ({w})."
        if errors:
            raise ValidationError(errors)


class NurtureWorkflow(models.Model):
    """An automated email sequence that leads are enrolled in until they reach its goal."""

    name = models.CharField(max_length=200, unique=True)
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="workflows"
    )
    goal = models.CharField(max_length=200, help_text="What counts as success, e.g. demo booked.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class NurtureEnrolment(models.Model):
    workflow = models.ForeignKey(
        NurtureWorkflow, on_delete=models.CASCADE, related_name="enrolments"
    )
    lead = models.ForeignKey(
        "leads.Lead", on_delete=models.CASCADE, related_name="nurture_enrolments"
    )
    entered_at = models.DateTimeField()
    goal_reached_at = models.DateTimeField(null=True, blank=True)
    exited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-entered_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "lead"], name="enrolment_once_per_lead"),
            models.CheckConstraint(
                condition=Q(goal_reached_at__isnull=True)
                | Q(goal_reached_at__gte=F("entered_at")),
                name="enrolment_goal_after_entry",
            ),
            models.CheckConstraint(
                condition=Q(exited_at__isnull=True) | Q(exited_at__gte=F("entered_at")),
                name="enrolment_exit_after_entry",
            ),
        ]
        indexes = [
            models.Index(fields=["workflow", "entered_at"], name="enrolment_workflow_entry_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.lead} in {self.workflow}"
