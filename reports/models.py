"""Reports' own tables. The KPI issue adds definitions and snapshots; the foundation keeps a
heartbeat so that a person can see the background worker and its schedule are alive."""

from django.db import models


class WorkerHeartbeat(models.Model):
    """Written by a periodic task: when beat last got a task through the broker to a worker."""

    name = models.CharField(max_length=50, unique=True, default="worker")
    last_seen_at = models.DateTimeField()
    hostname = models.CharField(max_length=255, blank=True)
    beats = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} · {self.last_seen_at:%Y-%m-%d %H:%M:%S}"


class Grain(models.TextChoices):
    DAY = "day", "Day"
    WEEK = "week", "Week"
    MONTH = "month", "Month"


class Dimension(models.TextChoices):
    ALL = "all", "All leads"
    CHANNEL = "channel", "Channel"
    CAMPAIGN = "campaign", "Campaign"
    OWNER = "owner", "Owner"


class KPISnapshot(models.Model):
    """A KPI for one period and one slice, with the numerator and denominator it was made of, so
    that ratios can be recombined across periods and slices (PRODUCT.md, "KPI snapshots").
    Written only by `reports.snapshots`, as an idempotent upsert that leaves a row alone when a
    recompute finds the same numbers: `computed_at` is when the row's numbers were computed, which
    a later recompute that agrees with them does not change."""

    metric = models.CharField(max_length=64)
    grain = models.CharField(max_length=8, choices=Grain.choices)
    period_start = models.DateField()
    period_end = models.DateField()
    dimension = models.CharField(max_length=16, choices=Dimension.choices)
    # The channel slug, campaign id or owner id the row is for; empty for `all`.
    dimension_value = models.CharField(max_length=64, blank=True)
    numerator = models.DecimalField(max_digits=28, decimal_places=6, null=True, blank=True)
    denominator = models.DecimalField(max_digits=28, decimal_places=6, null=True, blank=True)
    value = models.FloatField(null=True, blank=True)
    version = models.PositiveIntegerField(help_text="The definitions' version that computed it.")
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["metric", "grain", "period_start", "dimension", "dimension_value"],
                name="kpisnapshot_unique_slice",
            ),
            models.CheckConstraint(
                condition=models.Q(period_end__gte=models.F("period_start")),
                name="kpisnapshot_period_ordered",
            ),
        ]
        indexes = [
            models.Index(
                fields=["grain", "dimension", "period_start"], name="kpisnapshot_read_idx"
            ),
        ]

    def __str__(self) -> str:
        slice_ = self.dimension + (f"={self.dimension_value}" if self.dimension_value else "")
        return f"{self.metric} {self.grain} {self.period_start} {slice_}"


class KPIDirtyDay(models.Model):
    """A mark that a day's data (in TIME_ZONE) changed after its snapshots were computed. Written
    in the same transaction as the change, so no change is ever forgotten; a task recomputes the
    day's periods and deletes the marks it claimed. A day may have several marks: one made while
    a recompute of that day runs stays, so that the day is recomputed again."""

    day = models.DateField(db_index=True)
    marked_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return str(self.day)
