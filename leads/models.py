"""Accounts, leads, their stage history and their activities.

Fields and database constraints live here; the rules that change them live in services.py.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower

from campaigns.models import Channel

from .actors import SystemActor
from .stages import FUNNEL, REACHED_FIELD, TERMINAL_STAGES, Stage


class Account(models.Model):
    """A company that leads work for."""

    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253, blank=True)
    industry = models.CharField(max_length=100, blank=True)
    employees = models.PositiveIntegerField(null=True, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2 code")
    churned_at = models.DateTimeField(
        null=True, blank=True, help_text="When this customer stopped being a customer."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(Lower("domain"), name="account_domain_lower_idx")]

    def __str__(self) -> str:
        return self.name


def _reached_dates_ordered() -> list[models.CheckConstraint]:
    """Each first-reached date is set only if the one before it is, and is never earlier."""
    checks = []
    for earlier, later in zip(FUNNEL, FUNNEL[1:], strict=False):
        e, la = REACHED_FIELD[earlier], REACHED_FIELD[later]
        checks.append(
            models.CheckConstraint(
                condition=Q(**{f"{la}__isnull": True})
                | Q(**{f"{e}__isnull": False, f"{e}__lte": F(la)}),
                name=f"lead_{e}_before_{la}",
            )
        )
    return checks


def _stage_reached() -> list[models.CheckConstraint]:
    """A lead in a funnel stage has a first-reached date for it."""
    return [
        models.CheckConstraint(
            condition=~Q(stage=stage) | Q(**{f"{field}__isnull": False}),
            name=f"lead_in_{stage}_has_{field}",
        )
        for stage, field in REACHED_FIELD.items()
        if stage != Stage.LEAD
    ]


class Lead(models.Model):
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(max_length=254)
    phone = models.CharField(max_length=50, blank=True)
    job_title = models.CharField(max_length=200, blank=True)

    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_leads",
        db_index=False,  # lead_owner_stage_idx (owner, stage) serves lookups by owner
    )
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.LEAD)
    score = models.IntegerField(default=0)

    # Attribution (campaigns/attribution.py): where the lead first came from, set at creation and
    # never moved by a later touch, and where it last came back through.
    first_touch_channel = models.CharField(
        "first-touch channel", max_length=32, choices=Channel.choices, default=Channel.OTHER
    )
    first_touch_campaign = models.ForeignKey(
        "campaigns.Campaign",
        verbose_name="first-touch campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leads",
        db_index=False,  # a partial index in Meta: most leads have no campaign
    )
    last_touch_channel = models.CharField(
        "last-touch channel", max_length=32, choices=Channel.choices, default=Channel.OTHER
    )
    last_touch_campaign = models.ForeignKey(
        "campaigns.Campaign",
        verbose_name="last-touch campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="last_touch_leads",
        db_index=False,  # a partial index in Meta: most leads have no campaign
    )
    last_touch_at = models.DateTimeField(null=True, blank=True)
    utm_source = models.CharField("UTM source", max_length=200, blank=True)
    utm_medium = models.CharField("UTM medium", max_length=200, blank=True)
    utm_campaign = models.CharField("UTM campaign", max_length=200, blank=True)
    utm_content = models.CharField("UTM content", max_length=200, blank=True)
    utm_term = models.CharField("UTM term", max_length=200, blank=True)
    cta = models.CharField(
        "content / CTA", max_length=200, blank=True,
        help_text="The offer or call to action the lead responded to (e.g. pricing guide form).",
    )
    landing_page = models.CharField(max_length=500, blank=True)

    # First time the lead reached each stage: written once, never overwritten (services.py).
    became_lead_at = models.DateTimeField()
    became_mql_at = models.DateTimeField(null=True, blank=True)
    became_sql_at = models.DateTimeField(null=True, blank=True)
    became_opportunity_at = models.DateTimeField(null=True, blank=True)
    became_won_at = models.DateTimeField(null=True, blank=True)

    closed_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(
        max_length=500, blank=True, help_text="Why the lead was lost or disqualified."
    )
    deal_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    ready_for_sales_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the score reached the SQL threshold, for a rep to accept.",
    )
    scored_at = models.DateTimeField(null=True, blank=True)

    external_id = models.CharField(
        max_length=120, blank=True,
        help_text="The lead's id in the system it was imported from, e.g. hubspot:1234.",
    )

    # Optimistic concurrency: every write bumps it; a writer that read an older one gets a conflict.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-became_lead_at", "-id"]
        permissions = [
            ("view_all_leads", "Can see and work on every user's leads"),
            ("move_lead_backward", "Can move a lead back to an earlier stage"),
            ("reopen_lead", "Can reopen a won, lost or disqualified lead"),
            ("reassign_lead", "Can change a lead's owner"),
        ]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="lead_email_unique_ci"),
            models.UniqueConstraint(
                fields=["external_id"], condition=~Q(external_id=""),
                name="lead_external_id_unique",
            ),
            models.CheckConstraint(condition=Q(stage__in=Stage.values), name="lead_stage_valid"),
            models.CheckConstraint(
                condition=Q(first_touch_channel__in=Channel.values),
                name="lead_first_touch_channel_valid",
            ),
            models.CheckConstraint(
                condition=Q(last_touch_channel__in=Channel.values),
                name="lead_last_touch_channel_valid",
            ),
            models.CheckConstraint(
                condition=Q(stage__in=TERMINAL_STAGES, closed_at__isnull=False)
                | (~Q(stage__in=TERMINAL_STAGES) & Q(closed_at__isnull=True)),
                name="lead_closed_at_iff_terminal",
            ),
            models.CheckConstraint(
                condition=~Q(stage__in=[Stage.LOST, Stage.DISQUALIFIED]) | ~Q(exit_reason=""),
                name="lead_exit_has_reason",
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="lead_version_positive"),
            *_reached_dates_ordered(),
            *_stage_reached(),
        ]
        indexes = [
            models.Index(fields=["owner", "stage"], name="lead_owner_stage_idx"),
            models.Index(fields=["stage", "-became_lead_at"], name="lead_stage_recent_idx"),
            # Indexes cost every write (an import writes 100,000 leads at once): none on
            # low-cardinality columns such as the channels, and the campaign ones only where set.
            models.Index(
                fields=["first_touch_campaign"], name="lead_first_touch_campaign_idx",
                condition=Q(first_touch_campaign__isnull=False),
            ),
            models.Index(
                fields=["last_touch_campaign"], name="lead_last_touch_campaign_idx",
                condition=Q(last_touch_campaign__isnull=False),
            ),
            # The KPI engine reads the leads that reached a stage within a period (the live
            # funnel, snapshot rollups, a dirty day's recompute): without these, every period
            # read is a scan of every lead. Partial: a new lead has only its first date, and most
            # leads never reach the later stages.
            models.Index(fields=["became_lead_at"], name="lead_became_lead_at_idx"),
            *[
                models.Index(
                    fields=[REACHED_FIELD[stage]], name=f"lead_{REACHED_FIELD[stage]}_idx",
                    condition=Q(**{f"{REACHED_FIELD[stage]}__isnull": False}),
                )
                for stage in FUNNEL[1:]
            ],
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_closed(self) -> bool:
        return self.stage in TERMINAL_STAGES

    def reached_at(self, stage: str):
        return getattr(self, REACHED_FIELD[Stage(stage)])


class StageTransitionQuerySet(models.QuerySet):
    """Transitions are the audit trail: no bulk update or delete path exists."""

    def update(self, **kwargs):
        raise TypeError("Stage transitions are immutable.")

    def delete(self):
        raise TypeError("Stage transitions are immutable.")


class StageTransition(models.Model):
    """One change of a lead's stage. Written by the lifecycle service, never edited or deleted;
    the database refuses updates (and, on PostgreSQL, deletes) through triggers."""

    # transition_lead_at_idx (lead, at) serves lookups by lead: no index of its own.
    lead = models.ForeignKey(
        Lead, on_delete=models.PROTECT, related_name="transitions", db_index=False
    )
    from_stage = models.CharField(
        max_length=20, choices=Stage.choices, blank=True, help_text="Empty at the lead's creation."
    )
    to_stage = models.CharField(max_length=20, choices=Stage.choices)
    at = models.DateTimeField()
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # a partial index in Meta: imports and scoring move leads too
    )
    actor_system = models.CharField(max_length=20, choices=SystemActor.choices, blank=True)
    note = models.TextField(blank=True)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StageTransitionQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        base_manager_name = "objects"  # related managers and cascades refuse bulk deletes too
        constraints = [
            models.CheckConstraint(
                condition=Q(to_stage__in=Stage.values), name="transition_to_stage_valid"
            ),
            models.CheckConstraint(
                condition=Q(from_stage="") | Q(from_stage__in=Stage.values),
                name="transition_from_stage_valid",
            ),
            models.CheckConstraint(
                condition=(Q(actor_user__isnull=False) & Q(actor_system=""))
                | (Q(actor_user__isnull=True) & ~Q(actor_system="")),
                name="transition_one_actor",
            ),
        ]
        indexes = [
            models.Index(fields=["lead", "at"], name="transition_lead_at_idx"),
            models.Index(fields=["to_stage", "at"], name="transition_to_stage_at_idx"),
            models.Index(
                fields=["actor_user"], name="transition_actor_user_idx",
                condition=Q(actor_user__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.from_stage or '∅'} → {self.to_stage}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise TypeError("Stage transitions are immutable.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Stage transitions are immutable.")

    @property
    def actor_label(self) -> str:
        if self.actor_user_id:
            return str(self.actor_user)
        return SystemActor(self.actor_system).label


class ActivityType(models.TextChoices):
    CALL = "call", "Call"
    MEETING = "meeting", "Meeting"
    EMAIL_SENT = "email_sent", "Email sent"
    EMAIL_OPENED = "email_opened", "Email opened"
    EMAIL_CLICKED = "email_clicked", "Email clicked"
    REPLY = "reply", "Reply"
    PAGE_VIEW = "page_view", "Page view"
    FORM_SUBMITTED = "form_submitted", "Form submitted"
    DEMO_REQUESTED = "demo_requested", "Demo requested"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"


class Activity(models.Model):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="activities")
    type = models.CharField(max_length=32, choices=ActivityType.choices)
    at = models.DateTimeField()
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_system = models.CharField(max_length=20, choices=SystemActor.choices, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "activities"
        constraints = [
            models.CheckConstraint(
                condition=Q(type__in=ActivityType.values), name="activity_type_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["lead", "-at"], name="activity_lead_at_idx"),
            models.Index(fields=["type", "at"], name="activity_type_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} · {self.at:%Y-%m-%d}"


# Scoring's models live in their own module; importing them here registers them with the app.
from .scoring.models import (  # noqa: E402
    LeadScoreItem,
    RescoreRun,
    ScoringRule,
    ScoringSettings,
    ScoringSettingsChange,
)

__all__ = [
    "Account", "Activity", "ActivityType", "Lead", "LeadScoreItem", "RescoreRun", "ScoringRule",
    "ScoringSettings", "ScoringSettingsChange", "StageTransition",
]


class SavedLeadView(models.Model):
    """A user's named filter and sort of the lead list (leads/views_list.py). `query` is the list's
    query string, normalised (filter and sort keys only, in a stable order); the list applies it
    through the same LeadFilter and the user's scope as any other query, so a view never shows
    more than its owner may see."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_lead_views",
        db_index=False,  # saved_lead_view_owner_name_unique (owner, lower(name)) serves it
    )
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                F("owner"), Lower("name"), name="saved_lead_view_owner_name_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name
