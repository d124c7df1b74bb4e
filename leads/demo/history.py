"""One demo lead's life after creation: its stage moves and its activities.

A move that would land at or after the anchor does not happen, so recent leads are still open, as
in a live pipeline; activities fall between the lead's creation and its close (or the anchor).
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from decimal import Decimal

from leads.models import ActivityType
from leads.stages import TERMINAL_STAGES, Stage

from . import vocabulary as v
from .records import DEMO, OWNER, ActivityPlan, MovePlan

# Funnel ratios of an average channel: lead->mql, mql->sql, sql->opportunity, opportunity->won.
P_MQL, P_SQL, P_OPPORTUNITY, P_WON = 0.40, 0.40, 0.55, 0.35


def pick(rng: random.Random, weighted) -> str:
    """One value of a {value: weight} mapping or a sequence of (value, weight) pairs."""
    pairs = list(weighted.items()) if isinstance(weighted, dict) else list(weighted)
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


def _delay(rng: random.Random, median_days: float) -> timedelta:
    """Days to weeks, skewed: most steps are quick, a few drag on. At least an hour."""
    days = rng.lognormvariate(math.log(median_days), 0.8)
    return _minutes(max(60, min(round(days * 1440), 150 * 1440)))


def _office_hours(rng: random.Random, at: datetime) -> datetime:
    """A person's action moved forward into 8:00-18:00; never earlier, so order is kept."""
    if at.hour < 8:
        return at.replace(hour=8) + _minutes(rng.randint(0, 120))
    if at.hour >= 18:
        return at.replace(hour=8) + timedelta(days=1) + _minutes(rng.randint(0, 120))
    return at


def _actor(rng: random.Random, demo_share: float) -> str:
    return DEMO if rng.random() < demo_share else OWNER


class _Path:
    """A lead's walk down the funnel. A step that would land at or after the anchor does not
    happen, so recent leads are still open, as in a live pipeline."""

    def __init__(self, rng: random.Random, start: datetime, anchor: datetime):
        self.rng, self.at, self.anchor = rng, start, anchor
        self.moves: list[MovePlan] = []

    def step(self, to_stage: str, median_days: float, actor: str, **details) -> bool:
        at = self.at + _delay(self.rng, median_days)
        if actor == OWNER:
            at = _office_hours(self.rng, at)
        if at >= self.anchor:
            return False
        self.moves.append(MovePlan(to_stage=str(to_stage), at=at, actor=actor, **details))
        self.at = at
        return True


def moves_plan(rng, *, channel, created, anchor, employees) -> tuple[MovePlan, ...]:
    path = _Path(rng, created, anchor)
    if rng.random() < v.SKIP_TO_SQL.get(channel, v.SKIP_TO_SQL_DEFAULT):
        reached_sql = path.step(Stage.SQL, 3, OWNER, note=rng.choice(v.SKIP_NOTES))
    else:
        reached_sql = _from_lead(rng, path, v.CHANNEL_QUALITY[channel]) and _from_mql(rng, path)
    if reached_sql and _from_sql(rng, path, employees):
        _from_opportunity(rng, path)
    return tuple(path.moves)


def _from_lead(rng, path: _Path, quality: float) -> bool:
    if rng.random() < P_MQL * quality:
        return path.step(Stage.MQL, 6, _actor(rng, 0.6), note=rng.choice(v.MQL_NOTES))
    if rng.random() < 0.2:
        path.step(Stage.DISQUALIFIED, 12, OWNER, reason=pick(rng, v.DISQUALIFY_REASONS))
    return False


def _from_mql(rng, path: _Path) -> bool:
    if rng.random() < P_SQL:
        return path.step(Stage.SQL, 12, _actor(rng, 0.15), note=rng.choice(v.SQL_NOTES))
    if rng.random() < 0.25:
        path.step(Stage.DISQUALIFIED, 20, OWNER, reason=pick(rng, v.DISQUALIFY_REASONS))
    return False


def _from_sql(rng, path: _Path, employees: int) -> bool:
    if rng.random() < P_OPPORTUNITY:
        note, amount = rng.choice(v.OPPORTUNITY_NOTES), _deal_amount(rng, employees)
        return path.step(Stage.OPPORTUNITY, 8, _actor(rng, 0.15), note=note, deal_amount=amount)
    roll = rng.random()
    if roll < 0.35:
        path.step(Stage.LOST, 25, OWNER, reason=pick(rng, v.LOST_REASONS))
    elif roll < 0.7:
        path.step(Stage.DISQUALIFIED, 15, OWNER, reason=pick(rng, v.DISQUALIFY_REASONS))
    return False


def _from_opportunity(rng, path: _Path) -> None:
    if rng.random() < P_WON:
        path.step(Stage.WON, 30, _actor(rng, 0.15), note=rng.choice(v.WON_NOTES))
    elif rng.random() < 0.8:
        path.step(Stage.LOST, 35, OWNER, reason=pick(rng, v.LOST_REASONS))


def _deal_amount(rng: random.Random, employees: int) -> Decimal:
    """Bigger companies buy bigger deals: about 8k for 50 people, 26k for 1,000."""
    median = 8000 * (max(employees, 5) / 50) ** 0.4
    amount = min(250_000, max(2_000, rng.lognormvariate(math.log(median), 0.5)))
    return Decimal(round(amount / 500) * 500)


# --- its activities -----------------------------------------------------------------------------


def timeline_end(moves: tuple[MovePlan, ...], anchor: datetime) -> datetime:
    """Where a lead's timeline stops: a day after its close, or the anchor for an open lead."""
    closed = next((m.at for m in moves if m.to_stage in TERMINAL_STAGES), None)
    return min(anchor, closed + timedelta(days=1)) if closed else anchor


def activities_plan(
    rng, *, channel, cta, created, moves, anchor, extra=()
) -> tuple[ActivityPlan, ...]:
    """A handful of activities between the lead's creation and its close (or the anchor), with
    `extra` ones planned elsewhere (its nurture emails, its return visits)."""
    reached = {m.to_stage: m.at for m in moves}
    drafts = [
        *_engagement(rng, channel, cta, created),
        *extra,
        *_sales_touches(rng, reached, created),
    ]
    if moves and moves[-1].to_stage == Stage.DISQUALIFIED and rng.random() < 0.1:
        drafts.append(ActivityPlan(ActivityType.UNSUBSCRIBED, moves[-1].at + _minutes(90), DEMO))
    end = timeline_end(moves, anchor)
    kept = [a for a in drafts if created <= a.at < end]
    return tuple(sorted(kept, key=lambda a: (a.at, a.type)))


def _engagement(rng, channel, cta, created) -> list[ActivityPlan]:
    found = []
    if channel in v.FORM_CHANNELS:
        form = {"form": v.CTA_FORMS.get(cta, "Contact us"), "cta": cta}
        found.append(ActivityPlan(ActivityType.FORM_SUBMITTED, created, DEMO, form))
    for _ in range(rng.randint(1, 3)):
        at = created + _minutes(rng.randint(5, 20 * 1440))
        found.append(ActivityPlan(ActivityType.PAGE_VIEW, at, DEMO, {"url": rng.choice(v.PAGES)}))
    return found


def _sales_touches(rng, reached: dict[str, datetime], created: datetime) -> list[ActivityPlan]:
    """The owner's calls once a lead is worth working, meetings once it is sales-qualified, and
    the last call (sometimes answered) before a rep disqualifies a lead."""
    found: list[ActivityPlan] = []

    def touch(type_: str, at: datetime, actor: str = OWNER, **payload) -> None:
        if actor == OWNER:
            at = _office_hours(rng, at)
        found.append(ActivityPlan(type_, at, actor, payload))

    if working := reached.get(Stage.MQL) or reached.get(Stage.SQL):
        for _ in range(rng.randint(1, 2)):
            at = working + _minutes(rng.randint(30, 5 * 1440))
            outcome = rng.choice(v.CALL_OUTCOMES)
            touch(ActivityType.CALL, at, outcome=outcome, minutes=rng.randint(2, 25))
        if rng.random() < 0.35:
            touch(ActivityType.REPLY, working + _minutes(rng.randint(60, 7 * 1440)))
    if sql := reached.get(Stage.SQL):
        if rng.random() < 0.3:
            touch(ActivityType.DEMO_REQUESTED, sql - _minutes(rng.randint(30, 2 * 1440)), DEMO)
        at = sql + _minutes(rng.randint(1440, 7 * 1440))
        touch(ActivityType.MEETING, at, title=rng.choice(v.MEETING_TITLES))
    if opportunity := reached.get(Stage.OPPORTUNITY):
        at = opportunity + _minutes(rng.randint(10, 600))
        touch(ActivityType.EMAIL_SENT, at, subject="Your proposal")
    if disqualified := reached.get(Stage.DISQUALIFIED):
        # Not moved into office hours: it must stay before the move it leads to.
        called = max(created + _minutes(5), disqualified - _minutes(rng.randint(20, 3 * 1440)))
        outcome = rng.choice(v.CALL_OUTCOMES)
        payload = {"outcome": outcome, "minutes": rng.randint(1, 10)}
        found.append(ActivityPlan(ActivityType.CALL, called, OWNER, payload))
        if outcome == "Connected" and rng.random() < 0.5:
            answered = called + (disqualified - called) / 2
            found.append(ActivityPlan(ActivityType.REPLY, answered, OWNER, {}))
    return found
