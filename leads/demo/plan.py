"""The demo data set as a plan: plain values computed from a seed and an anchor time.

The plan touches neither the database nor the clock, so the same seed and anchor always give the
same plan, and `seed_demo` writes exactly the plan through the lead services. Every time in it is
strictly before the anchor, and each lead's moves are in time order, as the services demand.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from itertools import accumulate

from django.utils import timezone

from leads.models import ActivityType
from leads.stages import FUNNEL, REACHED_FIELD, TERMINAL_STAGES, Stage, funnel_index

from . import vocabulary as v

OWNER = "owner"  # the lead's owner did it
DEMO = "demo"  # SystemActor.DEMO did it (automation: forms, tracking, nurture, scoring)

HISTORY_DAYS = 548  # leads are created over the last 18 months
LEADS_PER_ACCOUNT = 10
# Funnel ratios of an average channel: lead->mql, mql->sql, sql->opportunity, opportunity->won.
P_MQL, P_SQL, P_OPPORTUNITY, P_WON = 0.40, 0.40, 0.55, 0.35


@dataclass(frozen=True)
class AccountPlan:
    name: str
    domain: str
    industry: str
    employees: int
    country: str
    churned_at: datetime | None = None


@dataclass(frozen=True)
class CampaignPlan:
    name: str
    channel: str
    utm_campaign: str


@dataclass(frozen=True)
class MovePlan:
    to_stage: str
    at: datetime
    actor: str
    note: str = ""
    reason: str = ""
    deal_amount: Decimal | None = None  # set on the lead right after this move


@dataclass(frozen=True)
class ActivityPlan:
    type: str
    at: datetime
    actor: str
    payload: dict = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "type", str(self.type))  # a plain "call", not ActivityType.CALL


@dataclass(frozen=True)
class LeadPlan:
    first_name: str
    last_name: str
    email: str
    job_title: str
    account: int | None  # index into DemoPlan.accounts
    owner: str  # a DEMO_USERS username
    channel: str
    campaign: str | None  # utm_campaign of one of DemoPlan.campaigns
    created_at: datetime
    created_by: str
    moves: tuple[MovePlan, ...]
    activities: tuple[ActivityPlan, ...]

    @property
    def stage(self) -> str:
        return self.moves[-1].to_stage if self.moves else Stage.LEAD.value

    def reached(self) -> dict[str, datetime | None]:
        """The first-reached dates the services stamp: a forward move also stamps the stages it
        skips with its own time (the plan has no backward moves)."""
        first = {Stage.LEAD: self.created_at}
        for move in self.moves:
            if move.to_stage in FUNNEL:
                for stage in FUNNEL[: funnel_index(move.to_stage) + 1]:
                    first.setdefault(stage, move.at)
        return {REACHED_FIELD[stage]: first.get(stage) for stage in FUNNEL}


@dataclass(frozen=True)
class DemoPlan:
    accounts: tuple[AccountPlan, ...]
    campaigns: tuple[CampaignPlan, ...]
    leads: tuple[LeadPlan, ...]


def demo_anchor() -> datetime:
    """Today's midnight in the organisation's time zone, as UTC. Every demo time lies before it,
    so it is in the past, and one seed gives the same data all day long."""
    midnight = timezone.make_aware(datetime.combine(timezone.localdate(), time.min))
    return midnight.astimezone(UTC)


def demo_plan(*, seed: int, leads: int, anchor: datetime) -> DemoPlan:
    """The demo data for `seed`: `leads` leads created over the 18 months before `anchor`."""
    rng = random.Random(seed)
    accounts = _accounts_plan(rng, max(3, round(leads / LEADS_PER_ACCOUNT)))
    campaigns = tuple(CampaignPlan(name, str(ch), utm) for name, ch, utm in v.CAMPAIGNS)
    maker = _LeadMaker(rng, anchor=anchor, accounts=accounts, campaigns=campaigns)
    lead_plans = sorted((maker.make() for _ in range(leads)), key=lambda p: (p.created_at, p.email))
    accounts = _with_churn(rng, accounts, lead_plans, anchor)
    return DemoPlan(accounts=tuple(accounts), campaigns=campaigns, leads=tuple(lead_plans))


# --- helpers ------------------------------------------------------------------------------------


def _pick(rng: random.Random, weighted) -> str:
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


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", plain.lower())


def _actor(rng: random.Random, demo_share: float) -> str:
    return DEMO if rng.random() < demo_share else OWNER


def _accounts_plan(rng: random.Random, count: int) -> list[AccountPlan]:
    names = [f"{p} {s}" for p in v.COMPANY_PREFIXES for s in v.COMPANY_SUFFIXES]
    return [
        AccountPlan(
            name=name,
            domain="-".join(_ascii(word) for word in name.split()) + ".example",
            industry=_pick(rng, v.INDUSTRIES),
            employees=int(min(50_000, max(2, rng.lognormvariate(math.log(120), 1.4)))),
            country=_pick(rng, v.COUNTRIES),
        )
        for name in rng.sample(names, min(count, len(names)))
    ]


def _with_churn(rng, accounts, leads, anchor) -> list[AccountPlan]:
    """About one customer in five churns, two months to a year and a bit after its last win."""
    last_won: dict[int, datetime] = {}
    for lead in leads:
        if lead.stage == Stage.WON and lead.account is not None:
            won_at = lead.moves[-1].at
            last_won[lead.account] = max(won_at, last_won.get(lead.account, won_at))
    churned = list(accounts)
    for index in sorted(last_won):
        if rng.random() < 0.2:
            at = last_won[index] + timedelta(days=rng.randint(60, 420), hours=rng.randint(9, 17))
            if at < anchor:
                churned[index] = replace(churned[index], churned_at=at)
    return churned


# --- one lead -----------------------------------------------------------------------------------


class _LeadMaker:
    def __init__(self, rng, *, anchor, accounts, campaigns):
        self.rng, self.anchor, self.accounts = rng, anchor, accounts
        self.emails: set[str] = set()
        # A few accounts bring many leads, most bring a few.
        self.account_weights = [1 / (i + 1) ** 0.6 for i in range(len(accounts))]
        self.campaigns: dict[str, list[str]] = {}
        for campaign in campaigns:
            self.campaigns.setdefault(campaign.channel, []).append(campaign.utm_campaign)
        self.days = range(1, HISTORY_DAYS + 1)
        self.day_cum_weights = list(accumulate(self._day_weight(d) for d in self.days))

    def _day_weight(self, days_ago: int) -> float:
        """Lead volume grows over time, dips at weekends, in August and in December."""
        day = self.anchor - timedelta(days=days_ago)
        growth = 1 + 1.5 * (1 - days_ago / HISTORY_DAYS)
        weekend = 0.3 if day.weekday() >= 5 else 1.0
        season = 0.75 if day.month in (8, 12) else 1.0
        return growth * weekend * season

    def make(self) -> LeadPlan:
        rng = self.rng
        channel = str(_pick(rng, v.CHANNEL_WEIGHTS))
        days_ago = rng.choices(self.days, cum_weights=self.day_cum_weights)[0]
        created = self.anchor - timedelta(days=days_ago) + _minutes(rng.randint(7 * 60, 19 * 60))
        first, last = rng.choice(v.FIRST_NAMES), rng.choice(v.LAST_NAMES)
        account = None
        if rng.random() < 0.93:
            account = rng.choices(range(len(self.accounts)), weights=self.account_weights)[0]
        domain = self.accounts[account].domain if account is not None else None
        campaigns = self.campaigns.get(channel)
        moves = _moves_plan(
            rng,
            channel=channel,
            created=created,
            anchor=self.anchor,
            employees=self.accounts[account].employees if account is not None else 20,
        )
        return LeadPlan(
            first_name=first,
            last_name=last,
            email=self._email(first, last, domain or rng.choice(v.FREE_MAIL_DOMAINS)),
            job_title=_pick(rng, v.JOB_TITLES),
            account=account,
            owner=_pick(rng, v.OWNER_WEIGHTS),
            channel=channel,
            campaign=rng.choice(campaigns) if campaigns and rng.random() < 0.85 else None,
            created_at=created,
            created_by=DEMO if channel in v.FORM_CHANNELS else OWNER,
            moves=moves,
            activities=_activities_plan(
                rng, channel=channel, created=created, moves=moves, anchor=self.anchor
            ),
        )

    def _email(self, first: str, last: str, domain: str) -> str:
        local, n = f"{_ascii(first)}.{_ascii(last)}", 1
        email = f"{local}@{domain}"
        while email in self.emails:
            n += 1
            email = f"{local}{n}@{domain}"
        self.emails.add(email)
        return email


# --- its stage history --------------------------------------------------------------------------


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


def _moves_plan(rng, *, channel, created, anchor, employees) -> tuple[MovePlan, ...]:
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
        path.step(Stage.DISQUALIFIED, 12, OWNER, reason=_pick(rng, v.DISQUALIFY_REASONS))
    return False


def _from_mql(rng, path: _Path) -> bool:
    if rng.random() < P_SQL:
        return path.step(Stage.SQL, 12, _actor(rng, 0.15), note=rng.choice(v.SQL_NOTES))
    if rng.random() < 0.25:
        path.step(Stage.DISQUALIFIED, 20, OWNER, reason=_pick(rng, v.DISQUALIFY_REASONS))
    return False


def _from_sql(rng, path: _Path, employees: int) -> bool:
    if rng.random() < P_OPPORTUNITY:
        note, amount = rng.choice(v.OPPORTUNITY_NOTES), _deal_amount(rng, employees)
        return path.step(Stage.OPPORTUNITY, 8, _actor(rng, 0.15), note=note, deal_amount=amount)
    roll = rng.random()
    if roll < 0.35:
        path.step(Stage.LOST, 25, OWNER, reason=_pick(rng, v.LOST_REASONS))
    elif roll < 0.7:
        path.step(Stage.DISQUALIFIED, 15, OWNER, reason=_pick(rng, v.DISQUALIFY_REASONS))
    return False


def _from_opportunity(rng, path: _Path) -> None:
    if rng.random() < P_WON:
        path.step(Stage.WON, 30, _actor(rng, 0.15), note=rng.choice(v.WON_NOTES))
    elif rng.random() < 0.8:
        path.step(Stage.LOST, 35, OWNER, reason=_pick(rng, v.LOST_REASONS))


def _deal_amount(rng: random.Random, employees: int) -> Decimal:
    """Bigger companies buy bigger deals: about 8k for 50 people, 26k for 1,000."""
    median = 8000 * (max(employees, 5) / 50) ** 0.4
    amount = min(250_000, max(2_000, rng.lognormvariate(math.log(median), 0.5)))
    return Decimal(round(amount / 500) * 500)


# --- its activities -----------------------------------------------------------------------------


def _activities_plan(rng, *, channel, created, moves, anchor) -> tuple[ActivityPlan, ...]:
    """A handful of activities between the lead's creation and its close (or the anchor)."""
    reached = {m.to_stage: m.at for m in moves}
    closed = next((m.at for m in moves if m.to_stage in TERMINAL_STAGES), None)
    end = min(anchor, closed + timedelta(days=1)) if closed else anchor
    drafts = [
        *_engagement(rng, channel, created),
        *_nurture(rng, channel, created),
        *_sales_touches(rng, reached),
    ]
    if moves and moves[-1].to_stage == Stage.DISQUALIFIED and rng.random() < 0.1:
        drafts.append(ActivityPlan(ActivityType.UNSUBSCRIBED, moves[-1].at + _minutes(90), DEMO))
    kept = [a for a in drafts if created <= a.at < end]
    return tuple(sorted(kept, key=lambda a: (a.at, a.type)))


def _engagement(rng, channel, created) -> list[ActivityPlan]:
    found = []
    if channel in v.FORM_CHANNELS:
        found.append(
            ActivityPlan(ActivityType.FORM_SUBMITTED, created, DEMO, {"form": rng.choice(v.FORMS)})
        )
    for _ in range(rng.randint(1, 3)):
        at = created + _minutes(rng.randint(5, 20 * 1440))
        found.append(ActivityPlan(ActivityType.PAGE_VIEW, at, DEMO, {"url": rng.choice(v.PAGES)}))
    return found


def _nurture(rng, channel, created) -> list[ActivityPlan]:
    """Weekly nurture emails, some opened, a few clicked."""
    if channel != "email" and rng.random() >= 0.45:
        return []
    found = []
    for week in range(rng.randint(1, 3)):
        sent = created + timedelta(days=3 + 7 * week) + _minutes(rng.randint(0, 600))
        subject = {"subject": rng.choice(v.EMAIL_SUBJECTS)}
        found.append(ActivityPlan(ActivityType.EMAIL_SENT, sent, DEMO, subject))
        if rng.random() < 0.45:
            opened = sent + _minutes(rng.randint(5, 2 * 1440))
            found.append(ActivityPlan(ActivityType.EMAIL_OPENED, opened, DEMO, subject))
            if rng.random() < 0.3:
                clicked = opened + _minutes(rng.randint(1, 30))
                found.append(ActivityPlan(ActivityType.EMAIL_CLICKED, clicked, DEMO, subject))
    return found


def _sales_touches(rng, reached: dict[str, datetime]) -> list[ActivityPlan]:
    """The owner's calls once a lead is worth working, meetings once it is sales-qualified."""
    found: list[ActivityPlan] = []

    def touch(type_: str, at: datetime, actor: str = OWNER, **payload) -> None:
        if actor == OWNER:
            at = _office_hours(rng, at)
        found.append(ActivityPlan(type_, at, actor, payload))

    if working := reached.get(Stage.MQL) or reached.get(Stage.SQL):
        for _ in range(rng.randint(1, 2)):
            at = working + _minutes(rng.randint(30, 5 * 1440))
            touch(ActivityType.CALL, at, outcome=rng.choice(v.CALL_OUTCOMES),
                  minutes=rng.randint(2, 25))
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
    return found
