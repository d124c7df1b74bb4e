"""Benchmark of the KPI engine (issue 5, "make bench"): on PostgreSQL, 1,000,000 leads with about
5,000,000 stage transitions, two years of daily metrics for every channel and 200 campaigns; then,
in the same run, the median of repeated calls of

- the live funnel (`funnel_compute`) for one quarter, both modes, all channels and one channel,
  against one hand-written SQL statement computing the same counts (its floor);
- the same funnel read from snapshots (the quarter's month rows summed);
- a full snapshot recompute (two years, every grain) against the bare GROUP BY rollup (its floor);
- one dirty day's recompute.

The data is written by the database itself (INSERT ... SELECT over generate_series): it is
benchmark scaffolding in a throwaway database, not application data.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.test.utils import override_settings
from django.utils import timezone

from campaigns.models import Campaign, Channel
from leads.models import Lead
from reports.kpis import KPIS, STAGE_RATIOS, Cut, funnel_compute, kpi_parts, kpi_value
from reports.models import Dimension, Grain, KPISnapshot
from reports.periods import Period, grain_periods, month_end
from reports.snapshots import dirty_recompute, kpis_mark_dirty, snapshots_recompute_all

DAYS = 730
OWNERS = 20
CHANNEL = Channel.PAID_SEARCH  # the one-channel cut
# First-touch channels of the leads without a campaign, weighted by repetition.
LEAD_CHANNELS = (
    ["organic_search"] * 4 + ["paid_search"] * 3 + ["paid_social"] * 2 + ["organic_social"]
    + ["email"] * 2 + ["referral", "direct", "direct", "direct", "events", "other"]
)
CAMPAIGN_CHANNELS = ["paid_search", "paid_social", "email", "organic_social", "events"]
STAGES = ["lead", "mql", "sql", "opportunity", "won"]
COLUMNS = ["became_lead_at", "became_mql_at", "became_sql_at", "became_opportunity_at",
           "became_won_at"]

# One row per lead: its draws, then the times it reached each stage (null when it did not, or not
# yet: nothing lies in the future), its exit and its slice. Ids follow became_lead_at, as they
# would in a live system. Each step is materialised: inlined, every step would repeat the
# expressions of the ones before it, many times over.
PLAN_SQL = """
CREATE UNLOGGED TABLE bench_kpi_plan AS
WITH draw AS MATERIALIZED (
    SELECT %(begin)s::timestamptz
             + random() * (%(now)s::timestamptz - %(begin)s::timestamptz) AS t0,
           random() AS r_depth, random() AS r_exit, floor(random() * 4)::int AS loops,
           random() AS r_channel, random() AS r_campaign, random() AS r_owner,
           random() AS g1, random() AS g2, random() AS g3, random() AS g4, random() AS g5
    FROM generate_series(1, %(leads)s)
), candidate AS MATERIALIZED (
    SELECT *,
           CASE WHEN r_depth < .30 THEN 1 WHEN r_depth < .55 THEN 2 WHEN r_depth < .75 THEN 3
                WHEN r_depth < .88 THEN 4 ELSE 5 END AS depth,
           t0 + interval '1 hour' + g1 * interval '20 days' AS c1
    FROM draw
), candidate_times AS MATERIALIZED (
    SELECT *, c1 + loops * interval '2 hours' + interval '1 hour' + g2 * interval '30 days' AS c2
    FROM candidate
), reached AS MATERIALIZED (
    SELECT *,
           CASE WHEN depth >= 2 AND c1 <= %(now)s THEN c1 END AS t1,
           CASE WHEN depth >= 3 AND c2 <= %(now)s THEN c2 END AS t2,
           CASE WHEN depth >= 4 AND c2 + interval '1 hour' + g3 * interval '30 days' <= %(now)s
                THEN c2 + interval '1 hour' + g3 * interval '30 days' END AS t3,
           CASE WHEN depth >= 5 AND c2 + interval '2 hours' + g3 * interval '30 days'
                                    + g4 * interval '45 days' <= %(now)s
                THEN c2 + interval '2 hours' + g3 * interval '30 days' + g4 * interval '45 days'
           END AS t4
    FROM candidate_times
), looped AS MATERIALIZED (
    SELECT *,
           CASE WHEN t1 IS NOT NULL AND c1 + loops * interval '2 hours' <= %(now)s
                THEN loops ELSE 0 END AS back_and_forth,
           1 + (t1 IS NOT NULL)::int + (t2 IS NOT NULL)::int + (t3 IS NOT NULL)::int
             + (t4 IS NOT NULL)::int AS reached_depth
    FROM reached
), exited AS MATERIALIZED (
    SELECT *,
           CASE WHEN reached_depth = 5 OR r_exit >= .4 THEN NULL
                WHEN reached_depth <= 2 THEN 'disqualified'
                WHEN reached_depth = 3 AND r_exit < .2 THEN 'disqualified'
                ELSE 'lost' END AS exit_stage,
           COALESCE(t3, t2, t1 + back_and_forth * interval '2 hours', t0)
             + interval '1 hour' + g5 * interval '20 days' AS exit_candidate
    FROM looped
), planned AS MATERIALIZED (
    SELECT *, CASE WHEN exit_stage IS NOT NULL AND exit_candidate <= %(now)s
                   THEN exit_candidate END AS te,
           CASE WHEN r_campaign < .3 THEN (1 + floor(r_campaign / .3 * %(campaigns)s))::bigint
           END AS campaign_k
    FROM exited
)
SELECT %(first_id)s + row_number() OVER (ORDER BY t0) AS id,
       t0, t1, t2, t3, t4, te, back_and_forth,
       (ARRAY['lead', 'mql', 'sql', 'opportunity', 'won'])[reached_depth] AS reached_stage,
       CASE WHEN te IS NOT NULL THEN exit_stage END AS exit_stage,
       CASE WHEN te IS NULL THEN ''
            WHEN exit_stage = 'lost' THEN 'Lost to a competitor'
            WHEN g5 < .5 THEN 'Not interested' ELSE 'Not a fit' END AS exit_reason,
       c.id AS campaign_id,
       CASE WHEN c.id IS NOT NULL THEN c.channel
            ELSE (%(channels)s::text[])[1 + floor(r_channel * cardinality(%(channels)s::text[]))]
       END AS channel,
       CASE WHEN r_owner < .85
            THEN (%(owners)s::int[])[1 + floor(r_owner / .85 * cardinality(%(owners)s::int[]))]
       END AS owner_id,
       CASE WHEN t4 IS NOT NULL THEN round((1000 + g5 * 49000)::numeric, 2) END AS deal_amount
FROM planned
LEFT JOIN (
    SELECT row_number() OVER (ORDER BY id) AS k, id, channel FROM campaigns_campaign
) c ON c.k = campaign_k
"""

LEADS_SQL = """
INSERT INTO leads_lead (
    id, first_name, last_name, email, phone, job_title, stage, score, first_touch_channel,
    became_lead_at, became_mql_at, became_sql_at, became_opportunity_at, became_won_at,
    closed_at, exit_reason, deal_amount, version, created_at, updated_at, account_id,
    first_touch_campaign_id, owner_id, ready_for_sales_at, scored_at, cta, landing_page,
    last_touch_at, last_touch_campaign_id, last_touch_channel, utm_campaign, utm_content,
    utm_medium, utm_source, utm_term, external_id)
SELECT id, '', '', 'kpi' || id || '@bench.example', '', '', COALESCE(exit_stage, reached_stage),
       0, channel, t0, t1, t2, t3, t4, COALESCE(te, t4), exit_reason, deal_amount, 1, %(now)s,
       %(now)s, NULL, campaign_id, owner_id, NULL, NULL, '', '', t0, campaign_id, channel, '', '',
       '', '', '', ''
FROM bench_kpi_plan ORDER BY id
"""

# Each lead's history: created, each stage it reached, 0 to 3 trips back to lead and again to
# MQL after its first MQL (which leave the first-reached dates alone), and its exit.
TRANSITIONS_SQL = """
INSERT INTO leads_stagetransition (
    from_stage, to_stage, at, actor_system, actor_user_id, note, reason, created_at, lead_id)
SELECT s.from_stage, s.to_stage, s.at,
       CASE WHEN p.owner_id IS NULL OR s.from_stage = '' THEN 'import' ELSE '' END,
       CASE WHEN s.from_stage <> '' THEN p.owner_id END, '', s.reason, %(now)s, p.id
FROM bench_kpi_plan p CROSS JOIN LATERAL (VALUES
    ('', 'lead', p.t0, ''),
    ('lead', 'mql', p.t1, ''),
    ('mql', 'lead', CASE WHEN p.back_and_forth >= 1 THEN p.t1 + interval '1 hour' END, ''),
    ('lead', 'mql', CASE WHEN p.back_and_forth >= 1 THEN p.t1 + interval '2 hours' END, ''),
    ('mql', 'lead', CASE WHEN p.back_and_forth >= 2 THEN p.t1 + interval '3 hours' END, ''),
    ('lead', 'mql', CASE WHEN p.back_and_forth >= 2 THEN p.t1 + interval '4 hours' END, ''),
    ('mql', 'lead', CASE WHEN p.back_and_forth >= 3 THEN p.t1 + interval '5 hours' END, ''),
    ('lead', 'mql', CASE WHEN p.back_and_forth >= 3 THEN p.t1 + interval '6 hours' END, ''),
    ('mql', 'sql', p.t2, ''),
    ('sql', 'opportunity', p.t3, ''),
    ('opportunity', 'won', p.t4, ''),
    (p.reached_stage, p.exit_stage, p.te, p.exit_reason)
) AS s(from_stage, to_stage, at, reason)
WHERE s.at IS NOT NULL
"""

# Two years of figures for every channel (its own row, campaign empty) and every campaign.
METRICS_SQL = """
INSERT INTO campaigns_dailymetric (
    date, channel, campaign_id, visitors, sessions, pageviews, bounced_sessions,
    time_on_site_seconds, landing_page_visitors, organic_impressions, ranked_keywords,
    impressions, clicks, spend, followers, engagements, emails_sent, emails_delivered,
    emails_opened, emails_clicked, emails_unsubscribed, created_at, updated_at)
SELECT day, channel, campaign_id, v, floor(v * 1.3), floor(v * 3.1), floor(floor(v * 1.3) * .4),
       floor(v * 95), floor(v * .3),
       CASE WHEN channel = 'organic_search' THEN v * 20 END,
       CASE WHEN channel = 'organic_search' THEN 300 + floor(r * 50) END,
       CASE WHEN channel IN ('paid_search', 'paid_social') THEN v * 30 END,
       CASE WHEN channel IN ('paid_search', 'paid_social') THEN floor(v * .8) END,
       CASE WHEN channel IN ('paid_search', 'paid_social') THEN round((v * (.5 + r))::numeric, 2)
       END,
       CASE WHEN channel LIKE '%%social' THEN 10000 + floor(r * 500) END,
       CASE WHEN channel LIKE '%%social' THEN floor(v * .6) END,
       CASE WHEN channel = 'email' THEN v * 10 END,
       CASE WHEN channel = 'email' THEN floor(v * 9.7) END,
       CASE WHEN channel = 'email' THEN floor(v * 2.4) END,
       CASE WHEN channel = 'email' THEN floor(v * .5) END,
       CASE WHEN channel = 'email' THEN floor(v * .05) END,
       %(now)s, %(now)s
FROM (
    SELECT d::date AS day, ch AS channel, NULL::bigint AS campaign_id,
           (400 + random() * 800)::bigint AS v, random() AS r
    FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') AS d,
         unnest(%(channels)s::text[]) AS ch
    UNION ALL
    SELECT d::date, c.channel, c.id, (20 + random() * 80)::bigint, random()
    FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') AS d,
         campaigns_campaign AS c
) AS figures
"""

LOADED = ("leads_lead", "leads_stagetransition", "campaigns_dailymetric")
# The loaded tables' indexes that no constraint owns (primary keys and unique constraints stay).
INDEXES_SQL = """
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i
WHERE i.indrelid::regclass::text = ANY(%s)
  AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)
"""
# The plan gives leads consecutive ids and every transition one of them; owners and campaigns
# come from their tables. What the foreign keys would check row by row is then two comparisons.
REFERENCES_SQL = """
SELECT (SELECT max(id) - min(id) + 1 - count(*) FROM leads_lead)
     + (SELECT count(*) FROM leads_stagetransition t,
               (SELECT min(id) AS low, max(id) AS high FROM leads_lead) AS ids
        WHERE t.lead_id NOT BETWEEN ids.low AND ids.high)
"""

# The floors: what one hand-written statement takes to compute the same numbers.
FLOOR_PERIOD_SQL = """
SELECT count(*) FILTER (WHERE became_lead_at >= %(b)s AND became_lead_at < %(a)s),
       count(*) FILTER (WHERE became_mql_at >= %(b)s AND became_mql_at < %(a)s),
       count(*) FILTER (WHERE became_sql_at >= %(b)s AND became_sql_at < %(a)s),
       count(*) FILTER (WHERE became_opportunity_at >= %(b)s AND became_opportunity_at < %(a)s),
       count(*) FILTER (WHERE became_won_at >= %(b)s AND became_won_at < %(a)s),
       (SELECT sum(visitors) FROM campaigns_dailymetric WHERE campaign_id IS NULL
          AND date BETWEEN %(start)s AND %(end)s AND (%(channel)s::text IS NULL
                                                      OR channel = %(channel)s))
FROM leads_lead
WHERE (%(channel)s::text IS NULL OR first_touch_channel = %(channel)s)
  AND (became_lead_at >= %(b)s AND became_lead_at < %(a)s
       OR became_mql_at >= %(b)s AND became_mql_at < %(a)s
       OR became_sql_at >= %(b)s AND became_sql_at < %(a)s
       OR became_opportunity_at >= %(b)s AND became_opportunity_at < %(a)s
       OR became_won_at >= %(b)s AND became_won_at < %(a)s)
"""
FLOOR_COHORT_SQL = """
SELECT count(*), count(became_mql_at), count(became_sql_at), count(became_opportunity_at),
       count(became_won_at),
       (SELECT sum(visitors) FROM campaigns_dailymetric WHERE campaign_id IS NULL
          AND date BETWEEN %(start)s AND %(end)s AND (%(channel)s::text IS NULL
                                                      OR channel = %(channel)s))
FROM leads_lead
WHERE (%(channel)s::text IS NULL OR first_touch_channel = %(channel)s)
  AND became_lead_at >= %(b)s AND became_lead_at < %(a)s
"""
# Every stage's count per period and slice in one pass over the leads, and the visitors.
FLOOR_ROLLUP_SQL = """
SELECT s.stage, date_trunc(%(grain)s, s.at AT TIME ZONE %(tz)s) AS bucket,
       l.first_touch_channel, l.first_touch_campaign_id, l.owner_id, count(*)
FROM leads_lead l CROSS JOIN LATERAL (VALUES
    ('leads', l.became_lead_at), ('mql', l.became_mql_at), ('sql', l.became_sql_at),
    ('opportunity', l.became_opportunity_at), ('won', l.became_won_at)) AS s(stage, at)
WHERE s.at >= %(b)s AND s.at < %(a)s
GROUP BY GROUPING SETS ((1, 2), (1, 2, 3), (1, 2, 4), (1, 2, 5))
"""
FLOOR_VISITORS_SQL = """
SELECT date_trunc(%(grain)s, date)::date AS bucket, channel, campaign_id,
       sum(visitors) FILTER (WHERE campaign_id IS NULL), sum(visitors)
FROM campaigns_dailymetric
WHERE date BETWEEN %(start)s AND %(end)s
GROUP BY GROUPING SETS ((1), (1, 2), (1, 3))
"""


def references_check() -> None:
    """The foreign keys the generation did not check row by row, checked in one statement."""
    with connection.cursor() as cursor:
        cursor.execute(REFERENCES_SQL)
        broken = cursor.fetchone()[0]
    if broken:
        raise CommandError(f"Generated data has {broken} dangling references.")


def median_ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def last_full_quarter(today: date) -> Period:
    first_month = (today.month - 1) // 3 * 3 + 1
    end = today.replace(month=first_month, day=1) - timedelta(days=1)
    start = end.replace(month=end.month - 2, day=1)
    return Period(start, month_end(end))


class Command(BaseCommand):
    help = "Time the KPI engine on a generated data set (PostgreSQL only: make bench)."

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=1_000_000)
        parser.add_argument("--campaigns", type=int, default=200)
        parser.add_argument("--repeat", type=int, default=5, help="calls per read measure")
        parser.add_argument("--recompute-repeat", type=int, default=3,
                            help="full snapshot recomputes (each minutes long at full size)")
        parser.add_argument("--seed", type=float, default=0.42, help="setseed() value, -1..1")
        parser.add_argument(
            "--jit", action="store_true",
            help="measure with the server's JIT setting; by default it is off for the bench's "
            "session, since compiling a plan takes seconds on a small machine, whichever query it "
            "is, and would measure the compiler rather than the query",
        )

    def handle(self, *args, leads, campaigns, repeat, recompute_repeat, seed, jit, **options):
        if connection.vendor != "postgresql":
            raise CommandError(
                "bench_kpis needs PostgreSQL (DATABASE_URL=postgres://...): it writes its data "
                "with generate_series and measures PostgreSQL plans. make bench runs it."
            )
        call_command("migrate", verbosity=0)
        if Lead.objects.exists() or KPISnapshot.objects.exists():
            raise CommandError("bench_kpis needs an empty database (make bench makes one).")
        self.rows, self.compared, self.mismatches = [], 0, 0
        today = timezone.localdate()
        self.first, self.last = today - timedelta(days=DAYS), today - timedelta(days=1)
        self.generate(leads, campaigns, seed)
        with connection.cursor() as cursor:
            if not jit:
                cursor.execute("SET jit = off")
            cursor.execute("SHOW jit")
            self.stdout.write(f"JIT: {cursor.fetchone()[0]}")
        with override_settings(DEBUG=False, KPI_RECOMPUTE_ON_COMMIT=False):
            self.stdout.write(f"Load before measuring: {self.load()}")
            quarter = last_full_quarter(today)
            live = self.measure_live(quarter, repeat)
            self.measure_recompute(recompute_repeat)
            self.measure_snapshot_read(quarter, repeat, live)
            self.measure_dirty_day(repeat)
            self.stdout.write(f"Load after measuring: {self.load()}")
        self.rows.append((
            f"equal numbers: live = SQL floor, snapshots = live ({self.compared} funnels)", None,
            None, None, "equal", "FAIL" if self.mismatches else "PASS",
        ))
        self.table()

    # --- data ---------------------------------------------------------------------------------

    def generate(self, n_leads: int, n_campaigns: int, seed: float) -> None:
        tz = timezone.get_default_timezone()
        now = timezone.now()
        begin = timezone.make_aware(datetime.combine(self.first, datetime.min.time()), tz)
        self.stdout.write(
            f"Generating {n_leads:,} leads, {n_campaigns} campaigns, {DAYS} days of metrics "
            f"({self.first} to {self.last}, TIME_ZONE={settings.TIME_ZONE}) ..."
        )
        steps = {}
        started = time.perf_counter()
        users = get_user_model().objects.bulk_create(
            get_user_model()(username=f"kpi-rep{i}", email=f"kpi-rep{i}@bench.example")
            for i in range(OWNERS)
        )
        Campaign.objects.bulk_create(
            Campaign(name=f"Campaign {i}", channel=CAMPAIGN_CHANNELS[i % len(CAMPAIGN_CHANNELS)],
                     utm_campaign=f"kpi-campaign-{i}", status="active")
            for i in range(n_campaigns)
        )
        params = {
            "begin": begin, "now": now, "leads": n_leads, "campaigns": n_campaigns,
            "channels": LEAD_CHANNELS, "owners": [u.pk for u in users], "first_id": 0,
            "first": self.first, "last": self.last,
        }
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT setseed(%s)", [seed])
                # JIT compiles these long expressions for seconds on a slow machine.
                cursor.execute("SET LOCAL jit = off; SET LOCAL work_mem = '256MB'")
                # Foreign keys are checked by triggers, one query per row at commit: most of the
                # time for 6,000,000 rows whose ids come from the plan. A superuser skips them
                # (replica mode) and the references are checked at once afterwards.
                cursor.execute("SELECT current_setting('is_superuser') = 'on'")
                unchecked = cursor.fetchone()[0]
                if unchecked:
                    cursor.execute("SET LOCAL session_replication_role = replica")
                # Indexes are built once at the end rather than kept up row by row, which
                # takes several times longer; in the same transaction, so all or nothing.
                cursor.execute(INDEXES_SQL, [list(LOADED)])
                indexes = cursor.fetchall()
                for name, _ in indexes:
                    cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
                for name, sql, sql_params in (
                    ("plan", PLAN_SQL, params),
                    ("leads", LEADS_SQL, params),
                    ("transitions", TRANSITIONS_SQL, params),
                    ("metrics", METRICS_SQL, {**params, "channels": Channel.values}),
                ):
                    steps[name], _ = timed(lambda sql=sql, p=sql_params: cursor.execute(sql, p))
                cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
                steps["indexes"], _ = timed(
                    lambda: [cursor.execute(definition) for _, definition in indexes]
                )
                cursor.execute(
                    "SELECT setval(pg_get_serial_sequence('leads_lead', 'id'), max(id)) "
                    "FROM leads_lead"
                )
                cursor.execute("DROP TABLE bench_kpi_plan")
            commit_started = time.perf_counter()
        steps["commit"] = time.perf_counter() - commit_started
        if unchecked:
            steps["references"], _ = timed(references_check)
        with connection.cursor() as cursor:
            steps["vacuum analyze"], _ = timed(lambda: [
                cursor.execute(f"VACUUM ANALYZE {table}")
                for table in LOADED
            ])
            cursor.execute(
                "SELECT (SELECT count(*) FROM leads_lead), "
                "(SELECT count(*) FROM leads_stagetransition), "
                "(SELECT count(*) FROM campaigns_dailymetric)"
            )
            n_leads, n_transitions, n_metrics = cursor.fetchone()
        total = time.perf_counter() - started
        self.stdout.write(
            f"Generated {n_leads:,} leads, {n_transitions:,} transitions, {n_metrics:,} daily "
            f"metric rows in {total:.1f} s ("
            + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()) + ")"
        )
        self.generation_seconds = total

    # --- measures -----------------------------------------------------------------------------

    def measure_live(self, quarter: Period, repeat: int) -> dict:
        """Live funnel and its floor, called in turns so that both see the same load."""
        begin, after = quarter.bounds()
        out = {}
        for mode in ("period", "cohort"):
            for channel in (None, CHANNEL):
                cut = Cut(channel=channel)
                floor_sql = FLOOR_PERIOD_SQL if mode == "period" else FLOOR_COHORT_SQL
                params = {"b": begin, "a": after, "start": quarter.start, "end": quarter.end,
                          "channel": channel}

                def live(cut=cut, mode=mode):
                    return funnel_compute(period=quarter, cut=cut, scope=Q(), mode=mode)

                def floor(sql=floor_sql, params=params):
                    with connection.cursor() as cursor:
                        cursor.execute(sql, params)
                        return cursor.fetchone()

                live_times, floor_times = [], []
                result, floor_row = live(), floor()  # warm-up
                for _ in range(repeat):
                    live_times.append(timed(live)[0])
                    floor_times.append(timed(floor)[0])
                counts = [result["counts"][s] for s in STAGES] + [result["visitors"]]
                expected = [*floor_row[:5], floor_row[5]]
                label = f"live funnel {quarter.start:%Y}Q{(quarter.start.month + 2) // 3}, {mode}, "
                label += f"channel={channel}" if channel else "all channels"
                self.row(label, median_ms(live_times), median_ms(floor_times), 2.0, "<= 2x floor")
                self.compare(f"{label}: live != SQL floor", counts, expected)
                out[(mode, channel)] = result
        return out

    def measure_recompute(self, repeat: int) -> None:
        tz = settings.TIME_ZONE
        recompute_times, floor_times = [], []
        written = 0

        def floor():
            rows = 0
            with connection.cursor() as cursor:
                for grain in Grain.values:
                    periods = grain_periods(grain, self.first, self.last)
                    begin, _ = periods[0].bounds()
                    _, after = periods[-1].bounds()
                    cursor.execute(FLOOR_ROLLUP_SQL, {"grain": grain, "tz": tz, "b": begin,
                                                      "a": after})
                    rows += len(cursor.fetchall())
                    cursor.execute(FLOOR_VISITORS_SQL, {"grain": grain, "start": periods[0].start,
                                                        "end": periods[-1].end})
                    rows += len(cursor.fetchall())
            return rows

        for attempt in range(repeat):
            seconds, written = timed(
                lambda: snapshots_recompute_all(since=self.first, until=self.last)
            )
            recompute_times.append(seconds)
            floor_seconds, floor_rows = timed(floor)
            floor_times.append(floor_seconds)
            what = "into the empty table" if attempt == 0 else "over unchanged rows"
            self.stdout.write(
                f"  full recompute {attempt + 1}/{repeat} ({what}): {seconds:.1f} s, "
                f"{written:,} rows recomputed; rollup floor {floor_seconds:.1f} s "
                f"({floor_rows:,} groups), {seconds / floor_seconds:.2f}x"
            )
        self.row(f"full snapshot recompute (2 years, day+week+month, {written:,} rows)",
                 median_ms(recompute_times), median_ms(floor_times), 3.0, "<= 3x floor")

    def measure_snapshot_read(self, quarter: Period, repeat: int, live: dict) -> None:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE reports_kpisnapshot")  # as autovacuum would have by now
        for channel in (None, CHANNEL):
            def read(channel=channel):
                return snapshot_funnel(quarter, channel)

            read()  # warm-up
            times = [timed(read)[0] for _ in range(repeat)]
            label = "snapshot funnel (month rows), period, " + (
                f"channel={channel}" if channel else "all channels")
            self.row(label, median_ms(times), None, 20.0, "<= 20 ms")
            self.compare(f"{label}: snapshots != live", read(), live[("period", channel)])

    def measure_dirty_day(self, repeat: int) -> None:
        day = self.last - timedelta(days=40)

        def recompute():
            kpis_mark_dirty([day])
            return dirty_recompute()

        times = [timed(recompute)[0] for _ in range(repeat)]
        self.row(f"dirty day recompute ({day}: its day, week, month)", median_ms(times), None,
                 200.0, "< 200 ms", strict=True)

    # --- output -------------------------------------------------------------------------------

    def row(self, label, ms, floor_ms, limit, target, *, strict=False):
        """`limit`: a ratio to the floor when there is one, else milliseconds."""
        measured = ms if floor_ms is None else (ms / floor_ms if floor_ms else float("inf"))
        passed = measured < limit if strict else measured <= limit
        ratio = None if floor_ms is None else measured
        self.rows.append((label, ms, floor_ms, ratio, target, "PASS" if passed else "FAIL"))
        self.stdout.write(f"  {label}: {ms:.1f} ms" + (
            f" (floor {floor_ms:.1f} ms, {ratio:.2f}x)" if floor_ms is not None else ""))

    def compare(self, label: str, got, expected) -> None:
        self.compared += 1
        if got != expected:
            self.mismatches += 1
            self.stderr.write(f"MISMATCH {label}: {got} != {expected}")

    def table(self) -> None:
        width = max(len(r[0]) for r in self.rows)
        header = (f"{'measure':<{width}}  {'median ms':>10}  {'floor ms':>9}  {'ratio':>6}  "
                  f"{'target':<12} result")
        lines = [header, "-" * len(header)]
        for label, ms, floor_ms, ratio, target, verdict in self.rows:
            lines.append(
                f"{label:<{width}}  {_num(ms, 10)}  {_num(floor_ms, 9)}  "
                f"{_num(ratio, 6, '.2f')}  {target:<12} {verdict}"
            )
        self.stdout.write("\n".join(lines))
        with connection.cursor() as cursor:
            cursor.execute("SHOW jit")
            jit = cursor.fetchone()[0]
        self.stdout.write(
            f"Generation: {self.generation_seconds:.1f} s. Load: {self.load()}. JIT: {jit}. "
            f"{sum(r[5] == 'FAIL' for r in self.rows)} check(s) failed."
        )

    @staticmethod
    def load() -> str:
        one, five, fifteen = os.getloadavg()
        return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min, {os.cpu_count()} CPUs)"


def _num(value, width, fmt=".1f") -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{fmt}}"


def snapshot_funnel(quarter: Period, channel: str | None) -> dict:
    """The period-mode funnel of a quarter from its three month snapshot rows per metric."""
    dimension, value = (Dimension.CHANNEL, channel) if channel else (Dimension.ALL, "")
    sums = dict(
        KPISnapshot.objects.filter(
            grain=Grain.MONTH, dimension=dimension, dimension_value=value,
            period_start__gte=quarter.start, period_start__lte=quarter.end,
            metric__in=["leads", "visitors", *STAGES[1:]],
        ).values("metric").annotate(n=Sum("numerator")).values_list("metric", "n")
    )
    measures = {k: (None if v is None else int(v)) for k, v in sums.items()}
    measures.setdefault("visitors", None)
    counts = {s: measures.get("leads" if s == "lead" else s, 0) for s in STAGES}
    rates = {}
    for kpi in (KPIS["visitor_to_lead"], *STAGE_RATIOS):
        rates[kpi.key] = kpi_value(kpi, *kpi_parts(kpi, measures))
    return {"visitors": measures["visitors"], "counts": counts, "rates": rates}
