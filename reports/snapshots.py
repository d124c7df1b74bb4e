"""KPI snapshots: the funnel KPIs per day, week and month, for every lead and per channel,
campaign and owner (first touch), kept fresh by Celery (PRODUCT.md, "KPI snapshots").

- `snapshots_recompute_periods({grain: (start, end)})` recomputes each grain's periods touching
  its [start, end] and upserts every row: running it twice, or two workers at once, leaves the
  same rows. Overlapping runs of one grain take turns (an advisory lock on PostgreSQL; SQLite has
  one writer at a time anyway). On PostgreSQL it is one INSERT ... SELECT that rolls the stages up
  by day and slice once, sums days into weeks and months, and leaves unchanged rows alone; on
  SQLite, rollup queries per grain whose rows are made by `kpi_value`.
- `kpis_mark_dirty(days)` records, in the writer's transaction, the days a change touched; after
  commit a task recomputes just those days' periods (`dirty_recompute`).
- Values follow `reports.kpis.kpi_value`, the rule live reads use (the registry's numerator over
  its denominator as floats, null on a zero or unknown one): a snapshot and the live funnel for
  its period agree to the last digit, which a property test holds both paths to.
"""

from __future__ import annotations

import logging
import os
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
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
# A recompute rewrites a row only when one of these differs from what it computed.
COMPARED = ["period_end", "numerator", "denominator", "value", "version"]

Progress = Callable[[int, int], None]
logger = logging.getLogger(__name__)


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
    """Recompute the `grain` periods touching [start, end]; returns the rows recomputed."""
    return snapshots_recompute_periods({grain: (start, end)}, now=now)


def snapshots_recompute_periods(
    ranges: dict[str, tuple[date, date]], *, now: datetime | None = None,
    from_days: bool = False,
) -> int:
    """Recompute, for each grain given, its periods touching the grain's [start, end], in one
    transaction. Returns the rows recomputed (changed or found unchanged).

    `from_days` (PostgreSQL, weeks and months): sum the periods from their stored day rows
    instead of rolling up the leads; only right where `_days_cover` says those rows are whole."""
    ranges = {g: ranges[g] for g in Grain.values if g in ranges and ranges[g][0] <= ranges[g][1]}
    if not ranges:
        return 0
    if from_days and (Grain.DAY in ranges or connection.vendor != "postgresql"):
        raise ValueError("from_days sums weeks and months from day rows, on PostgreSQL")
    now = now or timezone.now()
    with transaction.atomic():
        for grain in ranges:  # always in one order: two runs wait rather than deadlock
            _lock(grain)
        if connection.vendor == "postgresql":
            return _recompute_sql(ranges, now, from_days=from_days)
        return sum(_recompute_rows(g, start, end, now) for g, (start, end) in ranges.items())


def _recompute_rows(grain: str, start: date, end: date, now: datetime) -> int:
    """Row by row, for SQLite: the rollup's counts, made into rows by `kpi_value`."""
    periods = grain_periods(grain, start, end)
    by_start = {p.start: p for p in periods}
    rolled = _rollup(grain, periods)
    rows = []
    for dimension, value, period_start in _slices(grain, periods, rolled):
        period = by_start.get(period_start)
        if period is None:
            continue
        measures = snapshot_measures(rolled.get((dimension, value, period_start), {}), dimension)
        for key in FUNNEL_KPIS:
            kpi = KPIS[key]
            numerator, denominator = kpi_parts(kpi, measures)
            rows.append(KPISnapshot(
                metric=key, grain=grain, period_start=period.start, period_end=period.end,
                dimension=dimension, dimension_value=value,
                numerator=_decimal(numerator), denominator=_decimal(denominator),
                value=kpi_value(kpi, numerator, denominator), version=VERSION, computed_at=now,
            ))
    # Like the PostgreSQL statement, leave the rows whose numbers did not change alone.
    stored = {
        tuple(r[:5]): tuple(r[5:]) for r in KPISnapshot.objects.filter(
            grain=grain, period_start__gte=periods[0].start, period_start__lte=periods[-1].start,
        ).values_list(*SLICE, *COMPARED)
    }
    changed = [r for r in rows if stored.get(_key(r, SLICE)) != _key(r, COMPARED)]
    KPISnapshot.objects.bulk_create(
        changed, batch_size=2000, update_conflicts=True, unique_fields=SLICE,
        update_fields=UPSERT_FIELDS,
    )
    return len(rows)


def _key(row: KPISnapshot, fields: list[str]) -> tuple:
    return tuple(getattr(row, f) for f in fields)


def _decimal(value) -> Decimal | None:
    return None if value is None else Decimal(value)


# --- PostgreSQL: one statement per recompute -----------------------------------------------------
#
# The same rows as `_recompute_rows`, computed and written by one INSERT ... SELECT: the stages'
# first-reached instants are rolled up once per day and slice (GROUPING SETS), weeks and months are
# sums of those days (every funnel count is additive over days: a lead reaches a stage once), and
# each slice's measures become the FUNNEL_KPIS rows by the registry's numerator and denominator.
# A row whose numbers did not change is left alone, so a recompute that finds nothing new writes
# nothing (its rows' computed_at then still says when those numbers were computed).

_MEASURES = ["leads" if s == Stage.LEAD else str(s) for s in FUNNEL]


def _reached_sql() -> str:
    return "\n    UNION ALL\n    ".join(
        f"SELECT '{name}' AS stage, ({field} AT TIME ZONE %(tz)s)::date AS day,\n"
        f"           first_touch_channel AS channel, first_touch_campaign_id AS campaign,\n"
        f"           owner_id AS owner\n"
        f"    FROM leads_lead WHERE {field} >= %(begin)s AND {field} < %(after)s"
        for name, field in zip(_MEASURES, (REACHED_FIELD[s] for s in FUNNEL), strict=True)
    )


def _metric_values_sql() -> str:
    """One VALUES row per snapshot metric, from the registry: (metric, numerator, denominator,
    whether the value is their ratio)."""
    columns = {*_MEASURES, "visitors"}
    rows = []
    for key in FUNNEL_KPIS:
        kpi = KPIS[key]
        if kpi.numerator not in columns or kpi.denominator not in columns | {None}:
            raise ImproperlyConfigured(f"{key}: a snapshot metric made of other measures")
        denominator = f"m.{kpi.denominator}::numeric" if kpi.denominator else "NULL::numeric"
        ratio = "true" if kpi.denominator else "false"
        rows.append(f"('{key}', m.{kpi.numerator}::numeric, {denominator}, {ratio})")
    return ",\n        ".join(rows)


def _from_leads_sql() -> str:
    """The periods and their measures, rolled up from the leads' first-reached instants and the
    daily metrics."""
    counts = ",\n           ".join(
        f"count(*) FILTER (WHERE stage = '{name}') AS {name}" for name in _MEASURES)
    sums = ", ".join(f"sum({name}) AS {name}" for name in _MEASURES)
    return f"""
WITH reached AS (
    {_reached_sql()}
),
counted AS (
    SELECT day,
           CASE WHEN GROUPING(channel) = 0 THEN 'channel' WHEN GROUPING(campaign) = 0
                THEN 'campaign' WHEN GROUPING(owner) = 0 THEN 'owner' ELSE 'all' END AS dimension,
           CASE WHEN GROUPING(channel) = 0 THEN channel WHEN GROUPING(campaign) = 0
                THEN campaign::text WHEN GROUPING(owner) = 0 THEN owner::text ELSE '' END
               AS dimension_value,
           {counts}
    FROM reached
    GROUP BY GROUPING SETS ((day), (day, channel), (day, campaign), (day, owner))
),
visited AS (
    SELECT date AS day, 'all' AS dimension, '' AS dimension_value, sum(visitors) AS visitors
    FROM campaigns_dailymetric
    WHERE campaign_id IS NULL AND date BETWEEN %(first_day)s AND %(last_day)s GROUP BY date
    UNION ALL
    SELECT date, 'channel', channel, sum(visitors) FROM campaigns_dailymetric
    WHERE campaign_id IS NULL AND date BETWEEN %(first_day)s AND %(last_day)s GROUP BY date, channel
    UNION ALL
    SELECT date, 'campaign', campaign_id::text, sum(visitors) FROM campaigns_dailymetric
    WHERE campaign_id IS NOT NULL AND date BETWEEN %(first_day)s AND %(last_day)s
    GROUP BY date, campaign_id
),
days AS MATERIALIZED (
    SELECT COALESCE(c.day, v.day) AS day, COALESCE(c.dimension, v.dimension) AS dimension,
           COALESCE(c.dimension_value, v.dimension_value) AS dimension_value,
           {", ".join(f"c.{name}" for name in _MEASURES)}, v.visitors
    FROM (SELECT * FROM counted WHERE dimension_value IS NOT NULL) AS c
    FULL JOIN visited AS v
      ON v.day = c.day AND v.dimension = c.dimension AND v.dimension_value = c.dimension_value
),
periods AS (
    SELECT 'day' AS grain, d::date AS period_start, d::date AS period_end
    FROM generate_series(%(day_first)s::timestamp, %(day_last)s::timestamp, '1 day') AS d
    UNION ALL
    SELECT 'week', d::date, d::date + 6
    FROM generate_series(%(week_first)s::timestamp, %(week_last)s::timestamp, '7 days') AS d
    UNION ALL
    SELECT 'month', d::date, (d + interval '1 month' - interval '1 day')::date
    FROM generate_series(%(month_first)s::timestamp, %(month_last)s::timestamp, '1 month') AS d
),
grained AS (
    SELECT 'day' AS grain, day AS period_start, dimension, dimension_value,
           {", ".join(_MEASURES)}, visitors
    FROM days WHERE day BETWEEN %(day_first)s AND %(day_last)s
    UNION ALL
    SELECT 'week', date_trunc('week', day)::date, dimension, dimension_value, {sums},
           sum(visitors)
    FROM days WHERE day BETWEEN %(week_first)s AND %(week_last)s::date + 6
    GROUP BY 2, 3, 4
    UNION ALL
    SELECT 'month', date_trunc('month', day)::date, dimension, dimension_value, {sums},
           sum(visitors)
    FROM days
    WHERE day BETWEEN %(month_first)s
                  AND (%(month_last)s::date + interval '1 month' - interval '1 day')::date
    GROUP BY 2, 3, 4
),
"""


def _from_days_sql() -> str:
    """The week and month periods' measures as sums of their stored day rows."""
    sums = ",\n           ".join(
        f"sum(k.numerator) FILTER (WHERE k.metric = '{name}') AS {name}"
        for name in (*_MEASURES, "visitors"))
    return f"""
WITH periods AS (
    SELECT 'week' AS grain, d::date AS period_start, d::date + 6 AS period_end
    FROM generate_series(%(week_first)s::timestamp, %(week_last)s::timestamp, '7 days') AS d
    UNION ALL
    SELECT 'month', d::date, (d + interval '1 month' - interval '1 day')::date
    FROM generate_series(%(month_first)s::timestamp, %(month_last)s::timestamp, '1 month') AS d
),
grained AS (
    SELECT p.grain, p.period_start, k.dimension, k.dimension_value,
           {sums}
    FROM periods AS p
    JOIN reports_kpisnapshot AS k
      ON k.grain = 'day' AND k.metric = ANY(%(summed)s)
     AND k.period_start BETWEEN p.period_start AND p.period_end
     AND k.period_start BETWEEN %(first_day)s AND %(last_day)s
    GROUP BY 1, 2, 3, 4
),
"""


def _write_sql() -> str:
    """From `periods` and `grained`: every slice's rows, upserted."""
    kept = ", ".join(f"COALESCE(g.{name}, 0) AS {name}" for name in _MEASURES)
    return f"""
slices AS (
    -- every period for all leads and each channel; every slice with data; and every campaign and
    -- owner slice stored before (so that a slice whose last lead moved away goes back to zero)
    SELECT p.grain, p.period_start, s.dimension, s.dimension_value
    FROM periods AS p CROSS JOIN (
        SELECT 'all' AS dimension, '' AS dimension_value
        UNION ALL SELECT 'channel', unnest(%(channels)s::text[])) AS s
    UNION
    SELECT grain, period_start, dimension, dimension_value FROM grained
    UNION
    SELECT p.grain, p.period_start, k.dimension, k.dimension_value
    FROM periods AS p JOIN reports_kpisnapshot AS k
      ON k.metric = %(probe)s AND k.grain = p.grain AND k.period_start = p.period_start
     -- the same, as constants the index can use (the planner cannot count generate_series)
     AND k.grain = ANY(%(grains)s) AND k.period_start BETWEEN %(first_day)s AND %(last_day)s
    WHERE k.dimension IN ('campaign', 'owner')
),
measured AS (
    SELECT s.grain, s.period_start, p.period_end, s.dimension, s.dimension_value, {kept},
           CASE WHEN s.dimension = 'owner' THEN NULL ELSE g.visitors END AS visitors
    FROM slices AS s
    JOIN periods AS p USING (grain, period_start)
    LEFT JOIN grained AS g USING (grain, period_start, dimension, dimension_value)
),
written AS (
    INSERT INTO reports_kpisnapshot (metric, grain, period_start, dimension, dimension_value,
                                     period_end, numerator, denominator, value, version,
                                     computed_at)
    SELECT r.metric, m.grain, m.period_start, m.dimension, m.dimension_value, m.period_end,
           r.numerator, r.denominator,
           CASE WHEN r.numerator IS NULL THEN NULL
                WHEN NOT r.ratio THEN r.numerator::double precision
                WHEN r.denominator IS NULL OR r.denominator = 0 THEN NULL
                ELSE r.numerator::double precision / r.denominator::double precision END,
           %(version)s, %(now)s
    FROM measured AS m CROSS JOIN LATERAL (VALUES
        {{metrics}}) AS r(metric, numerator, denominator, ratio)
    ON CONFLICT (metric, grain, period_start, dimension, dimension_value) DO UPDATE SET
        period_end = EXCLUDED.period_end, numerator = EXCLUDED.numerator,
        denominator = EXCLUDED.denominator, value = EXCLUDED.value, version = EXCLUDED.version,
        computed_at = EXCLUDED.computed_at
    WHERE (reports_kpisnapshot.period_end, reports_kpisnapshot.numerator,
           reports_kpisnapshot.denominator, reports_kpisnapshot.value,
           reports_kpisnapshot.version)
          IS DISTINCT FROM (EXCLUDED.period_end, EXCLUDED.numerator, EXCLUDED.denominator,
                            EXCLUDED.value, EXCLUDED.version)
    RETURNING 1
)
SELECT (SELECT count(*) FROM measured) * %(metric_count)s, (SELECT count(*) FROM written)
""".replace("{metrics}", _metric_values_sql())


_FROM_LEADS_SQL = _from_leads_sql() + _write_sql()
_FROM_DAYS_SQL = _from_days_sql() + _write_sql()


def _recompute_sql(
    ranges: dict[str, tuple[date, date]], now: datetime, *, from_days: bool = False
) -> int:
    periods = {g: grain_periods(g, start, end) for g, (start, end) in ranges.items()}
    first_day = min(p[0].start for p in periods.values())
    last_day = max(p[-1].end for p in periods.values())
    begin, _ = Period(first_day, first_day).bounds()
    _, after = Period(last_day, last_day).bounds()
    params = {
        "tz": settings.TIME_ZONE, "begin": begin, "after": after,
        "first_day": first_day, "last_day": last_day, "summed": [*_MEASURES, "visitors"],
        "grains": list(ranges),
        "channels": list(Channel.values), "probe": FUNNEL_KPIS[0],
        "version": VERSION, "now": now, "metric_count": len(FUNNEL_KPIS),
    }
    for grain in Grain.values:
        grain_periods_ = periods.get(grain)
        params[f"{grain}_first"] = grain_periods_[0].start if grain_periods_ else None
        params[f"{grain}_last"] = grain_periods_[-1].start if grain_periods_ else None
    with connection.cursor() as cursor:
        cursor.execute(_FROM_DAYS_SQL if from_days else _FROM_LEADS_SQL, params)
        recomputed, _changed = cursor.fetchone()
    return recomputed


def _days_cover(grain: str, start: date, end: date) -> bool:
    """Whether the stored day rows hold everything the `grain` periods touching [start, end] are
    made of, so that those periods can be summed from them: a day row of this definition version
    for each of their days up to today, and no metrics dated after today (leads cannot be)."""
    today = timezone.localdate()
    for period in grain_periods(grain, start, end):
        last = min(period.end, today)
        if last >= period.start:
            stored = KPISnapshot.objects.filter(
                metric=FUNNEL_KPIS[0], grain=Grain.DAY, dimension=Dimension.ALL,
                dimension_value="", version=VERSION,
                period_start__gte=period.start, period_start__lte=last,
            ).count()
            if stored != (last - period.start).days + 1:
                return False
        future = DailyMetric.objects.filter(date__gt=max(today, period.start - timedelta(days=1)),
                                            date__lte=period.end)
        if future.exists():
            return False
    return True


def snapshots_recompute_all(
    *, since: date, until: date | None = None, progress: Progress | None = None
) -> int:
    """Every grain from `since` to `until`, a month at a time so that progress can be shown."""
    until = until or timezone.localdate()
    months = grain_periods(Grain.MONTH, since, until)
    written = 0
    for done, month in enumerate(months, start=1):
        start, end = max(month.start, since), min(month.end, until)
        # A week across the month's first day was done with the month before: once is enough
        # (and the count of rows written stays the count of rows).
        weeks_from = start if start == since else week_start(start + timedelta(days=6))
        written += snapshots_recompute_periods({
            Grain.DAY: (start, end), Grain.WEEK: (weeks_from, end), Grain.MONTH: (start, end),
        })
        if progress:
            progress(done, len(months))
    return written


# --- dirty days ---------------------------------------------------------------------------------


def kpis_mark_dirty(days: Iterable[date], *, queue: bool = True) -> None:
    """Record that these days' data changed, in the caller's transaction; after it commits, a
    task recomputes them (unless `queue` is false: the caller recomputes them itself)."""
    days = {d for d in days if d is not None}
    if not days:
        return
    # A new row per mark, never "already marked": a recompute that claimed the day's earlier
    # rows may have started before this change commits, and deletes only the rows it claimed.
    KPIDirtyDay.objects.bulk_create([KPIDirtyDay(day=d) for d in sorted(days)])
    if queue and settings.KPI_RECOMPUTE_ON_COMMIT:
        from .tasks import kpis_recompute_dirty_task

        transaction.on_commit(kpis_recompute_dirty_task.delay)


def kpis_mark_dirty_at(instants: Iterable[datetime | None]) -> None:
    kpis_mark_dirty(timezone.localdate(t) for t in instants if t is not None)


def kpis_mark_lead_dirty(lead: Lead) -> None:
    """A change to a lead's slice (channel, campaign, owner) touches every day it reached a
    stage on."""
    kpis_mark_dirty_at(getattr(lead, REACHED_FIELD[s]) for s in FUNNEL)


def dirty_recompute(*, limit: int = 400, marked_before: datetime | None = None) -> int:
    """Claim up to `limit` dirty-day marks (those made before `marked_before`, if given) and
    recompute their days' day, week and month periods. The claimed marks are deleted in the same
    transaction as the recompute: if the recompute fails, or its worker dies, the days stay dirty;
    a second worker skips the marks the first one holds. A mark made while the recompute runs is
    not claimed, so its day is recomputed again, after this one. Returns days recomputed.

    Each run logs its span (the grain locks held from `started` to `finished`, monotonic across
    processes on one machine): runs never overlap, which the worker tests check."""
    with transaction.atomic():
        claimed = KPIDirtyDay.objects.order_by("day", "pk")
        if marked_before is not None:
            claimed = claimed.filter(marked_at__lt=marked_before)
        if connection.vendor == "postgresql":
            claimed = claimed.select_for_update(skip_locked=True)
        marks = list(claimed.values_list("pk", "day")[:limit])
        if not marks:
            return 0
        days = sorted({day for _, day in marks})
        for grain in Grain.values:  # all three, in order, before any: see _lock
            _lock(grain)
        started = time.time()
        for start, end in _runs(days):
            _recompute_run(start, end)
        KPIDirtyDay.objects.filter(pk__in=[pk for pk, _ in marks]).delete()
        logger.info(
            "kpi recompute run: days=%d first=%s last=%s started=%.6f finished=%.6f pid=%d",
            len(days), days[0], days[-1], started, time.time(), os.getpid(),
        )
    return len(days)


def _recompute_run(start: date, end: date) -> None:
    """The day, week and month periods of dirty days [start, end]. On PostgreSQL the days are
    rolled up from the leads, and their weeks and months summed from the stored days where those
    are whole (a dirty day then costs its own rollup, not its month's)."""
    if connection.vendor != "postgresql":
        snapshots_recompute_periods(dict.fromkeys(Grain.values, (start, end)))
        return
    snapshots_recompute_periods({Grain.DAY: (start, end)})
    coarse = [Grain.WEEK, Grain.MONTH]
    whole = {g: _days_cover(g, start, end) for g in coarse}
    snapshots_recompute_periods({g: (start, end) for g in coarse if not whole[g]})
    snapshots_recompute_periods({g: (start, end) for g in coarse if whole[g]}, from_days=True)


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive days merged into ranges, so that 30 dirty days in a row are one rollup."""
    runs: list[list[date]] = []
    for day in days:
        if runs and (day - runs[-1][1]).days <= 1:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(a, b) for a, b in runs]

