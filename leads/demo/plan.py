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
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from itertools import accumulate

from django.utils import timezone

from leads.stages import Stage

from . import vocabulary as v
from .history import activities_plan, moves_plan, pick
from .records import DEMO, OWNER, AccountPlan, CampaignPlan, DemoPlan, LeadPlan

HISTORY_DAYS = 548  # leads are created over the last 18 months
LEADS_PER_ACCOUNT = 10


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


# --- accounts -----------------------------------------------------------------------------------


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", plain.lower())


def _accounts_plan(rng: random.Random, count: int) -> list[AccountPlan]:
    names = [f"{p} {s}" for p in v.COMPANY_PREFIXES for s in v.COMPANY_SUFFIXES]
    return [
        AccountPlan(
            name=name,
            domain="-".join(_ascii(word) for word in name.split()) + ".example",
            industry=pick(rng, v.INDUSTRIES),
            employees=int(min(50_000, max(2, rng.lognormvariate(math.log(120), 1.4)))),
            country=pick(rng, v.COUNTRIES),
        )
        for name in rng.sample(names, min(count, len(names)))
    ]


def _with_churn(rng, accounts, leads, anchor) -> list[AccountPlan]:
    """Some customers churn, a month and a half to a year after their last win."""
    last_won: dict[int, datetime] = {}
    for lead in leads:
        if lead.stage == Stage.WON and lead.account is not None:
            won_at = lead.moves[-1].at
            last_won[lead.account] = max(won_at, last_won.get(lead.account, won_at))
    churned = list(accounts)
    for index in sorted(last_won):
        if rng.random() < 0.3:
            at = last_won[index] + timedelta(days=rng.randint(45, 365))
            at = at.replace(hour=rng.randint(9, 17), minute=0)
            if at < anchor:
                churned[index] = replace(churned[index], churned_at=at)
    return churned


# --- leads --------------------------------------------------------------------------------------


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
        channel = str(pick(rng, v.CHANNEL_WEIGHTS))
        days_ago = rng.choices(self.days, cum_weights=self.day_cum_weights)[0]
        office_minute = rng.randint(7 * 60, 19 * 60)
        created = self.anchor - timedelta(days=days_ago) + timedelta(minutes=office_minute)
        first, last = rng.choice(v.FIRST_NAMES), rng.choice(v.LAST_NAMES)
        account = None
        if rng.random() < 0.93:
            account = rng.choices(range(len(self.accounts)), weights=self.account_weights)[0]
        domain = self.accounts[account].domain if account is not None else None
        campaigns = self.campaigns.get(channel)
        moves = moves_plan(
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
            job_title=pick(rng, v.JOB_TITLES),
            account=account,
            owner=pick(rng, v.OWNER_WEIGHTS),
            channel=channel,
            campaign=rng.choice(campaigns) if campaigns and rng.random() < 0.85 else None,
            created_at=created,
            created_by=DEMO if channel in v.FORM_CHANNELS else OWNER,
            moves=moves,
            activities=activities_plan(
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
