"""Computing scores, set-based: a batch of leads costs two aggregate queries, whatever its size.

Score = fit points + engagement points. An engagement activity is worth
`points * 0.5 ** (age_days / half_life_days)`; a rule's total is capped (in absolute value) by its
cap, then rounded half away from zero to whole points. The breakdown lists each rule that fired with
its rounded points, and the score is their sum, so the breakdown always adds up to the score.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Case, Count, F, FloatField, Func, IntegerField, Q, Sum, Value, When
from django.db.models.functions import Greatest, Power

from ..models import Activity, Lead
from .models import FitField, Operator, RuleKind, ScoringRule

SECONDS_PER_DAY = 86400.0

FIELD_LOOKUP = {
    FitField.JOB_TITLE: "job_title",
    FitField.INDUSTRY: "account__industry",
    FitField.EMPLOYEES: "account__employees",
    FitField.COUNTRY: "account__country",
    FitField.CHANNEL: "channel",
}


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


def round_points(value: float) -> int:
    return int(Decimal(repr(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def capped(total: float, cap: int | None) -> float:
    if cap is None:
        return total
    return max(-cap, min(cap, total))


@dataclass(frozen=True)
class ScoreItem:
    rule_id: int
    points: int
    count: int


def scores_compute(
    *, lead_ids: list[int], rules: list[ScoringRule], half_life_days: int, now: datetime
) -> dict[int, list[ScoreItem]]:
    """Each lead's breakdown. Two queries: one for every fit rule, one for every engagement rule."""
    breakdown: dict[int, list[ScoreItem]] = {pk: [] for pk in lead_ids}
    fit = [r for r in rules if r.kind == RuleKind.FIT]
    engagement = [r for r in rules if r.kind == RuleKind.ENGAGEMENT]

    if fit:
        flags = {
            f"r{r.pk}": Case(When(fit_condition(r), then=1), default=0, output_field=IntegerField())
            for r in fit
        }
        rows = Lead.objects.filter(pk__in=lead_ids).annotate(**flags).values("pk", *flags)
        for row in rows:
            for r in fit:
                if row[f"r{r.pk}"]:
                    breakdown[row["pk"]].append(ScoreItem(r.pk, r.points, 1))

    if engagement:
        age_days = Greatest(
            Value(now.timestamp(), output_field=FloatField()) - Epoch(F("at")),
            Value(0.0, output_field=FloatField()),
        ) / Value(SECONDS_PER_DAY)
        decay = Power(
            Value(0.5, output_field=FloatField()), age_days / Value(float(half_life_days))
        )
        rows = (
            Activity.objects.filter(
                lead_id__in=lead_ids,
                type__in={r.activity_type for r in engagement},
                at__lte=now,
            )
            .values("lead_id", "type")
            .annotate(n=Count("id"), weight=Sum(decay, output_field=FloatField()))
            .order_by()
        )
        by_type: dict[str, list[ScoringRule]] = defaultdict(list)
        for r in engagement:
            by_type[r.activity_type].append(r)
        for row in rows:
            for r in by_type[row["type"]]:
                points = round_points(capped(r.points * row["weight"], r.cap))
                breakdown[row["lead_id"]].append(ScoreItem(r.pk, points, row["n"]))
    return breakdown
