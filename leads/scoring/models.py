"""Lead scoring that admins configure: fit rules on lead and account fields, engagement rules on
activities (capped, decaying), thresholds, and the per-lead breakdown that explains a score."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from campaigns.models import Channel

from ..models import ActivityType, Lead


class RuleKind(models.TextChoices):
    FIT = "fit", "Fit (lead or account field)"
    ENGAGEMENT = "engagement", "Engagement (activity)"


class FitField(models.TextChoices):
    JOB_TITLE = "job_title", "Job title"
    INDUSTRY = "industry", "Industry (account)"
    EMPLOYEES = "employees", "Employees (account)"
    COUNTRY = "country", "Country (account)"
    CHANNEL = "channel", "Channel"
    EMAIL_DOMAIN = "email_domain", "Email domain"


class Operator(models.TextChoices):
    EQUALS = "equals", "equals"
    IN = "in", "is one of (comma-separated)"
    CONTAINS = "contains", "contains (any case)"
    AT_LEAST = "gte", "is at least"
    AT_MOST = "lte", "is at most"


NUMERIC_FIELDS = {FitField.EMPLOYEES}
NUMERIC_OPERATORS = {Operator.AT_LEAST, Operator.AT_MOST}


class ScoringRule(models.Model):
    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    kind = models.CharField(max_length=20, choices=RuleKind.choices)
    points = models.IntegerField(help_text="Points added; negative points remove.")
    # fit rules
    field = models.CharField(max_length=32, choices=FitField.choices, blank=True)
    operator = models.CharField(max_length=10, choices=Operator.choices, blank=True)
    value = models.CharField(
        max_length=1000, blank=True, help_text="For 'is one of', separate values with commas."
    )
    # engagement rules
    activity_type = models.CharField(max_length=32, choices=ActivityType.choices, blank=True)
    cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most points (in absolute value) this rule can give."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind=RuleKind.FIT, activity_type="")
                    & ~Q(field="")
                    & ~Q(operator="")
                    & ~Q(value="")
                )
                | (Q(kind=RuleKind.ENGAGEMENT, field="", operator="") & ~Q(activity_type="")),
                name="scoringrule_kind_fields",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        errors = {}
        if self.kind == RuleKind.FIT:
            for name in ("field", "operator", "value"):
                if not getattr(self, name):
                    errors[name] = "A fit rule needs this."
            if self.activity_type:
                errors["activity_type"] = "Only engagement rules count activities."
            if self.cap is not None:
                errors["cap"] = "Only engagement rules are capped."
            numeric_op = self.operator in NUMERIC_OPERATORS
            if self.field and self.operator:
                if numeric_op and self.field not in NUMERIC_FIELDS:
                    errors["operator"] = "'at least' and 'at most' apply to employees only."
                if self.field in NUMERIC_FIELDS and self.operator == Operator.CONTAINS:
                    errors["operator"] = "'contains' applies to text fields only."
            if self.field == FitField.CHANNEL and self.value and self.operator != Operator.CONTAINS:
                unknown = [v for v in self.values if v.lower() not in Channel.values]
                if unknown:
                    errors["value"] = (
                        f"Unknown channel {', '.join(unknown)}; use one of: "
                        f"{', '.join(Channel.values)}."
                    )
            if self.field in NUMERIC_FIELDS and self.value:
                values = self.value.split(",") if self.operator == Operator.IN else [self.value]
                if not all(v.strip().lstrip("-").isdigit() for v in values):
                    errors["value"] = "Employees are compared with whole numbers."
        elif self.kind == RuleKind.ENGAGEMENT:
            if not self.activity_type:
                errors["activity_type"] = "An engagement rule needs an activity type."
            for name in ("field", "operator", "value"):
                if getattr(self, name):
                    errors[name] = "Only fit rules test lead fields."
        if errors:
            raise ValidationError(errors)

    @property
    def values(self) -> list[str]:
        return [v.strip() for v in self.value.split(",") if v.strip()]


class ScoringSettings(models.Model):
    """The one row of thresholds and decay. Changes are kept in ScoringSettingsChange."""

    mql_threshold = models.IntegerField(default=50, validators=[MinValueValidator(1)])
    sql_threshold = models.IntegerField(default=80, validators=[MinValueValidator(1)])
    sql_auto_promote = models.BooleanField(
        default=False,
        help_text="On: reaching the SQL threshold moves an MQL to SQL. Off: it only marks the "
        "lead ready for sales, for a rep to accept.",
    )
    half_life_days = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1)],
        help_text="Engagement points halve every this many days.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "scoring settings"
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="scoringsettings_single_row"),
            models.CheckConstraint(
                condition=Q(sql_threshold__gte=models.F("mql_threshold")),
                name="scoringsettings_sql_not_below_mql",
            ),
            models.CheckConstraint(
                condition=Q(half_life_days__gte=1), name="scoring_half_life_pos"
            ),
        ]

    def __str__(self) -> str:
        return "Scoring settings"

    def clean(self):
        both = self.sql_threshold is not None and self.mql_threshold is not None
        if both and self.sql_threshold < self.mql_threshold:
            raise ValidationError(
                {"sql_threshold": "The SQL threshold cannot be below the MQL threshold."}
            )


class ScoringSettingsChange(models.Model):
    """History of the settings: who changed what, when."""

    changed_at = models.DateTimeField(auto_now_add=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    before = models.JSONField()
    after = models.JSONField()

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"Scoring settings changed {self.changed_at:%Y-%m-%d %H:%M}"


class LeadScoreItem(models.Model):
    """One line of a lead's score breakdown: a rule that fired, its points and how many times."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="score_items")
    rule = models.ForeignKey(ScoringRule, on_delete=models.CASCADE, related_name="+")
    points = models.IntegerField()
    count = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-points", "rule_id"]
        constraints = [
            models.UniqueConstraint(fields=["lead", "rule"], name="leadscoreitem_lead_rule_unique")
        ]

    def __str__(self) -> str:
        return f"{self.rule} {self.points:+d}"


class RescoreRun(models.Model):
    """A background rescore of every lead: its progress, for the admin and the API."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    reason = models.CharField(max_length=200, blank=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    promoted = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"Rescore #{self.pk} ({self.status}, {self.done}/{self.total})"

    @property
    def percent(self) -> float:
        return round(100 * self.done / self.total, 1) if self.total else 0.0
