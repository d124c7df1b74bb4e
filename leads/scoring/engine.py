"""Computing scores, set-based: a batch of leads costs the same few statements whatever its size,
and no row passes through Python.

Two tables hold what the rules say about a batch, one row per lead and a column per rule: fit
(each fit rule's points, NULL when it does not fire) and engagement (each engagement rule's rounded
points and how many activities it counted). Unpivoted, they are the new breakdown rows. PostgreSQL
writes only the difference from the old breakdown, and the scores that change, in one statement;
other databases replace the breakdown and then sum it.

Score = fit points + engagement points. An engagement activity is worth
`points * 0.5 ** (age_days / half_life_days)`; a rule's total is capped (in absolute value) by its
cap, then rounded half away from zero to whole points. The breakdown lists each rule that fired with
its rounded points, and the score is their sum, so the breakdown always adds up to the score.
"""

from __future__ import annotations

import re
from datetime import datetime

from django.db import connection
from django.db.models import (
    Case,
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Abs, Cast, Coalesce, Floor, Greatest, Least, Power, Sign

from ..models import Activity, Lead
from ..sql import IdBatch
from ..stages import Stage
from .models import FitField, LeadScoreItem, Operator, RuleKind, ScoringRule

SECONDS_PER_DAY = 86400.0

FIELD_LOOKUP = {
    FitField.JOB_TITLE: "job_title",
    FitField.INDUSTRY: "account__industry",
    FitField.EMPLOYEES: "account__employees",
    FitField.COUNTRY: "account__country",
    FitField.CHANNEL: "first_touch_channel",
}
# The Lead and Account columns that fit rules read: a change to one of them rescores the lead.
LEAD_FIELDS_SCORED = frozenset({"job_title", "email", "account", "first_touch_channel"})
ACCOUNT_FIELDS_SCORED = frozenset({"industry", "employees", "country"})


class Epoch(Func):
    """Seconds since 1970 of a datetime column, on PostgreSQL and SQLite alike."""

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)")

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)"
        )


def fit_condition(rule: ScoringRule) -> Q:
    """The rule's condition as a filter on Lead. Text comparisons ignore case."""
    op, values = rule.operator, rule.values
    if rule.field == FitField.EMAIL_DOMAIN:
        domains = [v.lstrip("@") for v in values]
        if op == Operator.CONTAINS:
            return Q(email__iregex=r"@[^@]*" + re.escape(domains[0]))
        if op in (Operator.EQUALS, Operator.IN):
            chosen = domains[:1] if op == Operator.EQUALS else domains
            q = Q(pk__in=[])
            for domain in chosen:
                q |= Q(email__iendswith="@" + domain)
            return q
        return Q(pk__in=[])
    lookup = FIELD_LOOKUP[FitField(rule.field)]
    if rule.field == FitField.EMPLOYEES:
        numbers = [int(v) for v in values]
        if op == Operator.EQUALS:
            return Q(**{lookup: numbers[0]})
        if op == Operator.IN:
            return Q(**{f"{lookup}__in": numbers})
        if op == Operator.AT_LEAST:
            return Q(**{f"{lookup}__gte": numbers[0]})
        if op == Operator.AT_MOST:
            return Q(**{f"{lookup}__lte": numbers[0]})
        return Q(pk__in=[])
    if op == Operator.EQUALS:
        return Q(**{f"{lookup}__iexact": rule.value.strip()})
    if op == Operator.IN:
        q = Q(pk__in=[])
        for v in values:
            q |= Q(**{f"{lookup}__iexact": v})
        return q
    if op == Operator.CONTAINS:
        return Q(**{f"{lookup}__icontains": rule.value.strip()})
    return Q(pk__in=[])


def _whole_points(expression):
    """Round half away from zero, the same on PostgreSQL and SQLite (PostgreSQL's ROUND of a
    float rounds half to even)."""
    return Sign(expression) * Floor(Abs(expression) + Value(0.5))


def _capped(expression, cap: int | None):
    if cap is None:
        return expression
    return Greatest(Least(expression, Value(float(cap))), Value(float(-cap)))


def _fit_table(rules: list[ScoringRule], batch: IdBatch) -> QuerySet:
    """One row per lead of the batch: its id, its stage, and per fit rule (`fit_<id>`) the rule's
    points when it fires, NULL when it does not."""
    columns = {
        f"fit_{rule.pk}": Case(
            When(fit_condition(rule), then=Value(rule.points)), output_field=IntegerField()
        )
        for rule in rules
    }
    return (
        Lead.objects.filter(batch.contains("pk"))
        .order_by()
        .annotate(c_lead=F("pk"), c_stage=F("stage"), **columns)
        .values_list("c_lead", "c_stage", *columns)
    )


def _engagement_table(
    rules: list[ScoringRule], batch: IdBatch, half_life_days: int, now: datetime
) -> QuerySet:
    """One row per lead of the batch with an activity that counts: per engagement rule, its
    rounded points (`points_<id>`) and how many activities it counted (`count_<id>`)."""
    age_days = Greatest(
        Value(now.timestamp(), output_field=FloatField()) - Epoch(F("at")),
        Value(0.0, output_field=FloatField()),
    ) / Value(SECONDS_PER_DAY)
    decay = Power(Value(0.5, output_field=FloatField()), age_days / Value(float(half_life_days)))
    columns = {}
    for rule in rules:
        counted = Q(type=rule.activity_type)
        total = Value(float(rule.points)) * Sum(decay, filter=counted, output_field=FloatField())
        columns[f"points_{rule.pk}"] = Cast(_whole_points(_capped(total, rule.cap)), IntegerField())
        columns[f"count_{rule.pk}"] = Count("id", filter=counted)
    types = sorted({rule.activity_type for rule in rules})
    return (
        Activity.objects.filter(batch.contains("lead_id"), type__in=types, at__lte=now)
        .order_by()
        .values("lead_id")
        .annotate(c_lead=F("lead_id"), **columns)
        .values_list("c_lead", *columns)
    )


# A rule's rows of the new breakdown, from its column of the fit or engagement table.
FIT_ITEMS = "SELECT {lead}, %s, {points}, 1 FROM batch WHERE {points} IS NOT NULL"
ENGAGEMENT_ITEMS = "SELECT {lead}, %s, {points}, {count} FROM engagement WHERE {count} > 0"


def _new_items(
    *, batch: IdBatch, rules: list[ScoringRule], half_life_days: int, now: datetime
) -> tuple[list[str], str, list]:
    """The new breakdown of the batch: common table expressions `batch` (the fit table) and
    `engagement`, and a SELECT of (lead_id, rule_id, points, count) from them, one row per rule
    that fires on a lead. Portable SQL around the ORM's."""
    quote = connection.ops.quote_name
    lead = quote("c_lead")
    fit = [rule for rule in rules if rule.kind == RuleKind.FIT]
    engagement = [rule for rule in rules if rule.kind == RuleKind.ENGAGEMENT]
    fit_sql, fit_params = _fit_table(fit, batch).query.sql_with_params()
    ctes, params = [f"batch AS ({fit_sql})"], [*fit_params]
    selects = []
    for rule in fit:
        selects.append(FIT_ITEMS.format(lead=lead, points=quote(f"fit_{rule.pk}")))
    if engagement:
        sql, engagement_params = _engagement_table(
            engagement, batch, half_life_days, now
        ).query.sql_with_params()
        ctes.append(f"engagement AS ({sql})")
        params += engagement_params
        for rule in engagement:
            selects.append(
                ENGAGEMENT_ITEMS.format(
                    lead=lead, points=quote(f"points_{rule.pk}"), count=quote(f"count_{rule.pk}")
                )
            )
    params += [rule.pk for rule in fit] + [rule.pk for rule in engagement]
    return ctes, " UNION ALL ".join(selects), params


def scores_write(
    *,
    batch: IdBatch,
    rules: list[ScoringRule],
    half_life_days: int,
    now: datetime,
    report_from: int,
) -> list[tuple[int, int]]:
    """Write the breakdowns and scores of the batch's leads (`rules` is not empty). Returns
    (id, score), in id order, of the leads in stage lead or mql whose score is `report_from` or
    more: the ones that thresholds may move."""
    ctes, select, params = _new_items(
        batch=batch, rules=rules, half_life_days=half_life_days, now=now
    )
    if connection.vendor == "postgresql":
        return _scores_write_postgresql(ctes, select, params, batch, now, report_from)
    table = connection.ops.quote_name(LeadScoreItem._meta.db_table)
    with connection.cursor() as cursor:
        LeadScoreItem.objects.filter(batch.contains("lead_id")).delete()
        cursor.execute(
            f"WITH {', '.join(ctes)} INSERT INTO {table} (lead_id, rule_id, points, count) "
            f"{select}",
            params,
        )
    lead_scores_update(batch=batch, now=now)
    return list(
        Lead.objects.filter(
            batch.contains("pk"), stage__in=[Stage.LEAD, Stage.MQL], score__gte=report_from
        )
        .order_by("pk")
        .values_list("pk", "score")
    )


# One statement, its steps reading the old breakdown once and the new one once. They all see the
# rows as they were before it, so its data-modifying steps touch disjoint rows: removed (a rule no
# longer fires), changed (its points or count differ) and added (it fires for the first time).
# Unchanged breakdown rows and scores are not written at all.
POSTGRESQL_WRITE = """
WITH {ctes},
new (lead_id, rule_id, points, count) AS MATERIALIZED ({select}),
old AS MATERIALIZED (
    SELECT id, lead_id, rule_id, points, count FROM {items} WHERE lead_id = ANY(%s::bigint[])
),
diff AS MATERIALIZED (
    SELECT old.id AS old_id, new.lead_id, new.rule_id, new.points, new.count
    FROM old FULL JOIN new ON new.lead_id = old.lead_id AND new.rule_id = old.rule_id
    WHERE old.id IS NULL OR new.lead_id IS NULL
        OR new.points <> old.points OR new.count <> old.count
),
removed AS (
    DELETE FROM {items} WHERE id = ANY(ARRAY(SELECT old_id FROM diff WHERE lead_id IS NULL))
),
changed AS (
    UPDATE {items} SET points = diff.points, count = diff.count FROM diff
    WHERE {items}.id = diff.old_id AND diff.lead_id IS NOT NULL
        AND {items}.id = ANY(ARRAY(
            SELECT old_id FROM diff WHERE old_id IS NOT NULL AND lead_id IS NOT NULL
        ))
),
added AS (
    INSERT INTO {items} (lead_id, rule_id, points, count)
    SELECT lead_id, rule_id, points, count FROM diff WHERE old_id IS NULL
),
scores AS MATERIALIZED (
    SELECT batch.c_lead AS id, batch.c_stage AS stage, COALESCE(totals.total, 0) AS score
    FROM batch LEFT JOIN (
        SELECT lead_id, SUM(points) AS total FROM new GROUP BY lead_id
    ) AS totals ON totals.lead_id = batch.c_lead
),
rescored AS (
    UPDATE {leads} SET score = scores.score, scored_at = %s FROM scores
    WHERE {leads}.id = scores.id AND {leads}.score <> scores.score
)
SELECT id, score FROM scores WHERE stage IN (%s, %s) AND score >= %s ORDER BY id
"""


def _scores_write_postgresql(ctes, select, params, batch, now, report_from):
    quote = connection.ops.quote_name
    sql = POSTGRESQL_WRITE.format(
        ctes=",\n".join(ctes),
        select=select,
        items=quote(LeadScoreItem._meta.db_table),
        leads=quote(Lead._meta.db_table),
    )
    params = [*params, batch.param, now, Stage.LEAD.value, Stage.MQL.value, report_from]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def lead_scores_update(*, batch: IdBatch, now: datetime) -> None:
    """Each lead's score is the sum of its breakdown rows, so the two always agree. Only rows
    whose score changes are written (`scored_at` is when the score last changed)."""
    total = (
        LeadScoreItem.objects.filter(lead_id=OuterRef("pk"))
        .order_by()
        .values("lead_id")
        .annotate(total=Sum("points"))
        .values("total")
    )
    new_score = Coalesce(Subquery(total, output_field=IntegerField()), Value(0))
    Lead.objects.filter(batch.contains("pk")).alias(new_score=new_score).exclude(
        score=F("new_score")
    ).update(score=new_score, scored_at=now)
