"""Computing scores, set-based: a batch of leads costs one INSERT ... SELECT per rule and one
UPDATE, whatever its size; no row passes through Python.

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
)
from django.db.models.functions import Abs, Cast, Coalesce, Floor, Greatest, Least, Power, Sign

from ..models import Activity, Lead
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


def _fit_rows(rule: ScoringRule, lead_ids: list[int]) -> QuerySet:
    return (
        Lead.objects.filter(fit_condition(rule), pk__in=lead_ids)
        .order_by()
        .annotate(
            c_lead=F("pk"),
            c_rule=Value(rule.pk, output_field=IntegerField()),
            c_points=Value(rule.points, output_field=IntegerField()),
            c_count=Value(1, output_field=IntegerField()),
        )
        .values_list("c_lead", "c_rule", "c_points", "c_count")
    )


def _engagement_rows(
    rule: ScoringRule, lead_ids: list[int], half_life_days: int, now: datetime
) -> QuerySet:
    age_days = Greatest(
        Value(now.timestamp(), output_field=FloatField()) - Epoch(F("at")),
        Value(0.0, output_field=FloatField()),
    ) / Value(SECONDS_PER_DAY)
    decay = Power(Value(0.5, output_field=FloatField()), age_days / Value(float(half_life_days)))
    total = Value(float(rule.points)) * Sum(decay, output_field=FloatField())
    return (
        Activity.objects.filter(lead_id__in=lead_ids, type=rule.activity_type, at__lte=now)
        .order_by()
        .values("lead_id")
        .annotate(
            c_lead=F("lead_id"),
            c_rule=Value(rule.pk, output_field=IntegerField()),
            c_points=Cast(_whole_points(_capped(total, rule.cap)), IntegerField()),
            c_count=Count("id"),
        )
        .values_list("c_lead", "c_rule", "c_points", "c_count")
    )


def score_items_write(
    *, lead_ids: list[int], rules: list[ScoringRule], half_life_days: int, now: datetime
) -> None:
    """Replace these leads' breakdown rows: one INSERT ... SELECT per rule, nothing in Python."""
    LeadScoreItem.objects.filter(lead_id__in=lead_ids).delete()
    table = connection.ops.quote_name(LeadScoreItem._meta.db_table)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(c) for c in ("lead_id", "rule_id", "points", "count"))
    with connection.cursor() as cursor:
        for rule in rules:
            if rule.kind == RuleKind.FIT:
                rows = _fit_rows(rule, lead_ids)
            else:
                rows = _engagement_rows(rule, lead_ids, half_life_days, now)
            sql, params = rows.query.sql_with_params()
            cursor.execute(f"INSERT INTO {table} ({columns}) {sql}", params)


def lead_scores_update(*, lead_ids: list[int], now: datetime) -> None:
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
    Lead.objects.filter(pk__in=lead_ids).alias(new_score=new_score).exclude(
        score=F("new_score")
    ).update(score=new_score, scored_at=now)
