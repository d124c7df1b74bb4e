"""KPI snapshots: the funnel KPIs per day, week and month, for every lead and per channel,
campaign and owner (first touch), kept fresh by Celery (PRODUCT.md, "KPI snapshots").

- `snapshots_recompute(grain, start, end)` recomputes the periods of one grain that start within
  [start, end] from GROUP BY rollups (one query per stage and slice), then upserts every row:
  running it twice, or two workers at once, leaves the same rows. Overlapping runs of one grain
  take turns (an advisory lock on PostgreSQL; SQLite has one writer at a time anyway).
- `kpis_mark_dirty(days)` records, in the writer's transaction, the days a change touched; after
  commit a task recomputes just those days' periods (`dirty_recompute`).
- Values come from `reports.kpis.kpi_value`, the function live reads use, from the same counts:
  a snapshot and the live funnel for its period agree to the last digit.
"""

from __future__ import annotations

import json
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, DateField, Sum
from django.db.models.functions import Trunc
from django.utils import timezone

from campaigns.models import Channel, DailyMetric
from leads.models import Lead
from leads.stages import FUNNEL, REACHED_FIELD, Stage

from .kpis import FUNNEL_KPIS, KPIS, VERSION, kpi_parts, kpi_value
from .models import Dimension, Grain, KPIDirtyDay, KPISnapshot
from .periods import Period, grain_periods, week_start

# The slices, and the Lead / DailyMetric field each groups by (first-touch attribution).
LEAD_FIELD = {
    Dimension.CHANNEL: "first_touch_channel",
    Dimension.CAMPAIGN: "first_touch_campaign_id",
    Dimension.OWNER: "owner_id",
}
METRIC_FIELD = {Dimension.CHANNEL: "channel", Dimension.CAMPAIGN: "campaign_id"}
UPSERT_FIELDS = ["period_end", "numerator", "denominator", "value", "version", "computed_at"]
SLICE = ["metric", "grain", "period_start", "dimension", "dimension_value"]

Progress = Callable[[int, int], None]


def _bucket(field_name: str, grain: str) -> Trunc:
    """The start of the day, week or month an instant falls in, in TIME_ZONE."""
    return Trunc(field_name, grain, tzinfo=timezone.get_default_timezone())


def _day(bucket) -> date:
    if isinstance(bucket, datetime):
        return timezone.localtime(bucket).date() if timezone.is_aware(bucket) else bucket.date()
    return bucket


def _rollup(grain: str, periods: list[Period]) -> dict:
    """{(dimension, value, period_start): {measure: number}} for the funnel measures."""
    begin, _ = periods[0].bounds()
    _, after = periods[-1].bounds()
    out: dict = defaultdict(dict)
    for stage in FUNNEL:
        name = "leads" if stage == Stage.LEAD else str(stage)
        field_name = REACHED_FIELD[stage]
        rows = Lead.objects.filter(**{f"{field_name}__gte": begin, f"{field_name}__lt": after})
        rows = rows.order_by().annotate(bucket=_bucket(field_name, grain))
        for row in rows.values("bucket").annotate(n=Count("pk")):
            out[(Dimension.ALL, "", _day(row["bucket"]))][name] = row["n"]
        for dimension, group in LEAD_FIELD.items():
            grouped = rows.exclude(**{f"{group}__isnull": True}).values("bucket", group)
            for row in grouped.annotate(n=Count("pk")):
                out[(dimension, str(row[group]), _day(row["bucket"]))][name] = row["n"]
    metrics = DailyMetric.objects.filter(
        date__gte=periods[0].start, date__lte=periods[-1].end
    ).order_by().annotate(bucket=Trunc("date", grain, output_field=DateField()))
    totals = metrics.filter(campaign__isnull=True)
    for row in totals.values("bucket").annotate(v=Sum("visitors")):
        out[(Dimension.ALL, "", row["bucket"])]["visitors"] = row["v"]
    for row in totals.values("bucket", "channel").annotate(v=Sum("visitors")):
        out[(Dimension.CHANNEL, row["channel"], row["bucket"])]["visitors"] = row["v"]
    campaigns = metrics.filter(campaign__isnull=False)
    for row in campaigns.values("bucket", "campaign_id").annotate(v=Sum("visitors")):
        out[(Dimension.CAMPAIGN, str(row["campaign_id"]), row["bucket"])]["visitors"] = row["v"]
    return out


def _slices(grain: str, periods: list[Period], rolled: dict) -> set:
    """Every (dimension, value, period start) to write: every period for all leads and each
    channel, and every campaign and owner that has data now or had a snapshot before (so that a
    slice whose last lead moved away is written back to zero)."""
    starts = [p.start for p in periods]
    wanted = {(Dimension.ALL, "", s) for s in starts}
    wanted |= {(Dimension.CHANNEL, c, s) for c in Channel.values for s in starts}
    wanted |= set(rolled)
    existing = KPISnapshot.objects.filter(
        grain=grain, period_start__gte=starts[0], period_start__lte=starts[-1],
        dimension__in=[Dimension.CAMPAIGN, Dimension.OWNER],
    ).values_list("dimension", "dimension_value", "period_start").distinct()
    wanted |= set(existing)
    return wanted


def snapshot_measures(counts: dict, dimension: str) -> dict:
    """The measures of one slice: absent counts are zero; visitors stay unknown (None) without
    any metric row, and owners have none."""
    measures = {("leads" if s == Stage.LEAD else str(s)): counts.get(
        "leads" if s == Stage.LEAD else str(s), 0) for s in FUNNEL}
    measures["visitors"] = None if dimension == Dimension.OWNER else counts.get("visitors")
    return measures


def _lock(grain: str) -> None:
    if connection.vendor == "postgresql":
        key = zlib.crc32(f"kpi-snapshots:{grain}".encode())
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def snapshots_recompute(
    *, grain: str, start: date, end: date, now: datetime | None = None
) -> int:
    """Recompute the `grain` periods touching [start, end]; returns the rows written."""
    periods = grain_periods(grain, start, end)
    if not periods:
        return 0
    now = now or timezone.now()
    by_start = {p.start: p for p in periods}
    with transaction.atomic():
        _lock(grain)
        rolled = _rollup(grain, periods)
        rows = []
        for dimension, value, period_start in _slices(grain, periods, rolled):
            period = by_start.get(period_start)
            if period is None:
                continue
            measures = snapshot_measures(rolled.get((dimension, value, period_start), {}),
                                         dimension)
            for key in FUNNEL_KPIS:
                kpi = KPIS[key]
                numerator, denominator = kpi_parts(kpi, measures)
                rows.append(KPISnapshot(
                    metric=key, grain=grain, period_start=period.start, period_end=period.end,
                    dimension=dimension, dimension_value=value,
                    numerator=_decimal(numerator), denominator=_decimal(denominator),
                    value=kpi_value(kpi, numerator, denominator), version=VERSION,
                    computed_at=now,
                ))
        # Sorted, so that two concurrent upserts take their row locks in the same order.
        rows.sort(key=lambda r: (r.metric, r.period_start, r.dimension, r.dimension_value))
        _upsert(rows)
    return len(rows)


def _decimal(value) -> Decimal | None:
    return None if value is None else Decimal(value)


# A full recompute writes some 2,000,000 rows. On PostgreSQL they go as one JSON parameter to one
# INSERT ... ON CONFLICT: the ORM's bulk upsert prepares every value of every row one at a time,
# which was most of the recompute's time. (No temporary table: a session that has used one can no
# longer change temp_buffers, which the import sets.)
_UPSERT_SQL = """
INSERT INTO reports_kpisnapshot (metric, grain, period_start, dimension, dimension_value,
                                 period_end, numerator, denominator, value, version, computed_at)
SELECT r->>0, r->>1, (r->>2)::date, r->>3, r->>4, (r->>5)::date, (r->>6)::numeric,
       (r->>7)::numeric, (r->>8)::double precision, (r->>9)::integer, (r->>10)::timestamptz
FROM jsonb_array_elements(%s::jsonb) AS r
ORDER BY r->>0, (r->>2)::date, r->>3, r->>4
ON CONFLICT (metric, grain, period_start, dimension, dimension_value) DO UPDATE SET
    period_end = EXCLUDED.period_end, numerator = EXCLUDED.numerator,
    denominator = EXCLUDED.denominator, value = EXCLUDED.value, version = EXCLUDED.version,
    computed_at = EXCLUDED.computed_at
"""


def _upsert(rows: list[KPISnapshot]) -> None:
    """Insert or update the rows, taking their row locks in one order."""
    if connection.vendor != "postgresql":
        KPISnapshot.objects.bulk_create(
            rows, batch_size=2000, update_conflicts=True, unique_fields=SLICE,
            update_fields=UPSERT_FIELDS,
        )
        return
    payload = json.dumps([
        [r.metric, r.grain, r.period_start.isoformat(), r.dimension, r.dimension_value,
         r.period_end.isoformat(), _text(r.numerator), _text(r.denominator), r.value, r.version,
         r.computed_at.isoformat()]
        for r in rows
    ])
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT_SQL, [payload])


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def snapshots_recompute_all(
    *, since: date, until: date | None = None, progress: Progress | None = None
) -> int:
    """Every grain, by month-sized steps so that progress can be shown."""
    until = until or timezone.localdate()
    months = grain_periods(Grain.MONTH, since, until)
    steps = [(g, m) for m in months for g in Grain.values]
    written = 0
    for done, (grain, month) in enumerate(steps, start=1):
        start = max(month.start, since)
        if grain == Grain.WEEK and start > since:
            # A week across the month's first day was done with the month before: once is enough
            # (and the count of rows written stays the count of rows).
            start = week_start(start + timedelta(days=6))
        written += snapshots_recompute(grain=grain, start=start, end=min(month.end, until))
        if progress:
            progress(done, len(steps))
    return written


# --- dirty days ---------------------------------------------------------------------------------


def kpis_mark_dirty(days: Iterable[date]) -> None:
    """Record that these days' data changed, in the caller's transaction; after it commits, a
    task recomputes them."""
    days = {d for d in days if d is not None}
    if not days:
        return
    KPIDirtyDay.objects.bulk_create(
        [KPIDirtyDay(day=d) for d in sorted(days)], ignore_conflicts=True
    )
    if settings.KPI_RECOMPUTE_ON_COMMIT:
        from .tasks import kpis_recompute_dirty_task

        transaction.on_commit(kpis_recompute_dirty_task.delay)


def kpis_mark_dirty_at(instants: Iterable[datetime | None]) -> None:
    kpis_mark_dirty(timezone.localdate(t) for t in instants if t is not None)


def kpis_mark_lead_dirty(lead: Lead) -> None:
    """A change to a lead's slice (channel, campaign, owner) touches every day it reached a
    stage on."""
    kpis_mark_dirty_at(getattr(lead, REACHED_FIELD[s]) for s in FUNNEL)


def dirty_recompute(*, limit: int = 400) -> int:
    """Claim up to `limit` dirty days and recompute their day, week and month periods. A claimed
    day is deleted in the same transaction as its recompute: if the recompute fails, the day
    stays dirty; a second worker skips the days the first one holds. Returns days recomputed."""
    with transaction.atomic():
        claimed = KPIDirtyDay.objects.order_by("day")
        if connection.vendor == "postgresql":
            claimed = claimed.select_for_update(skip_locked=True)
        days = list(claimed.values_list("day", flat=True)[:limit])
        if not days:
            return 0
        for grain in Grain.values:
            for start, end in _runs(sorted(days)):
                snapshots_recompute(grain=grain, start=start, end=end)
        KPIDirtyDay.objects.filter(day__in=days).delete()
    return len(days)


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive days merged into ranges, so that 30 dirty days in a row are one rollup."""
    runs: list[list[date]] = []
    for day in days:
        if runs and (day - runs[-1][1]).days <= 1:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(a, b) for a, b in runs]

