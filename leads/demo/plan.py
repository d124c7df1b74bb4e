"""The demo data set as a plan: plain values computed from a seed and an anchor time.

The plan touches neither the database nor the clock, so the same seed and anchor always give the
same plan, and `seed_demo` writes exactly the plan through the services. Every time in it is
strictly before the anchor, and each lead's moves are in time order, as the services demand.
Campaigns (marketing.py) come first, since a lead is attributed to a campaign running on its
day; then the leads with their returns and enrolments (nurture.py); then the daily metrics
(metrics.py), which follow the leads.
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

from leads.stages import TERMINAL_STAGES, Stage

from . import vocabulary as v
from .history import activities_plan, moves_plan, pick, timeline_end
from .marketing import BOOTH_SHARE, CampaignBook, campaigns_plan, first_touch, return_plan
from .metrics import metrics_plan
from .nurture import enrolments_plan, nurture_activities, nurture_returns, workflows_plan
from .records import DEMO, OWNER, AccountPlan, DemoPlan, LeadPlan, stages_reached

HISTORY_DAYS = 548  # leads are created over the last 18 months
LEADS_PER_ACCOUNT = 10


def demo_anchor() -> datetime:
    """Today's midnight in the organisation's time zone, as UTC. Every demo time lies before it,
    so it is in the past, and one seed gives the same data all day long."""
    midnight = timezone.make_aware(datetime.combine(timezone.localdate(), time.min))
    return midnight.astimezone(UTC)


def demo_plan(*, seed: int, leads: int, anchor: datetime) -> DemoPlan:
    """The demo data for `seed`: `leads` leads created over the 18 months before `anchor`, the
    campaigns and workflows they came through, and the marketing metrics of those 18 months."""
    rng = random.Random(seed)
    today = anchor.astimezone(timezone.get_default_timezone()).date()
    days = tuple(today - timedelta(days=n) for n in range(HISTORY_DAYS, 0, -1))
    campaigns = campaigns_plan(days, today)
    accounts = _accounts_plan(rng, max(3, round(leads / LEADS_PER_ACCOUNT)))
    maker = _LeadMaker(
        rng, anchor=anchor, accounts=accounts, book=CampaignBook(campaigns), total=leads
    )
    lead_plans = sorted((maker.make() for _ in range(leads)), key=lambda p: (p.created_at, p.email))
    accounts = _with_churn(rng, accounts, lead_plans, anchor)
    metrics, campaigns = metrics_plan(
        seed=seed, days=days, leads=tuple(lead_plans), campaigns=campaigns, expected=maker.expected
    )
    return DemoPlan(
        accounts=tuple(accounts),
        campaigns=campaigns,
        leads=tuple(lead_plans),
        workflows=workflows_plan(),
        metrics=metrics,
        days=days,
    )


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
    def __init__(self, rng, *, anchor, accounts, book: CampaignBook, total: int):
        self.rng, self.anchor, self.accounts, self.book = rng, anchor, accounts, book
        self.total = total
        self.today = anchor.astimezone(timezone.get_default_timezone()).date()
        self.emails: set[str] = set()
        # A few accounts bring many leads, most bring a few.
        self.account_weights = [1 / (i + 1) ** 0.6 for i in range(len(accounts))]
        self.days = range(1, HISTORY_DAYS + 1)
        weights = [self._day_weight(d) for d in self.days]
        self.day_cum_weights = list(accumulate(weights))
        self.day_share = {self.today - timedelta(days=d): w / sum(weights)
                          for d, w in zip(self.days, weights, strict=True)}

    def _day_weight(self, days_ago: int) -> float:
        """Lead volume grows over time, dips at weekends, in August and in December."""
        day = self.today - timedelta(days=days_ago)
        growth = 1 + 1.5 * (1 - days_ago / HISTORY_DAYS)
        weekend = 0.3 if day.weekday() >= 5 else 1.0
        season = 0.75 if day.month in (8, 12) else 1.0
        return growth * weekend * season

    def expected(self, channel: str, day) -> dict[str | None, float]:
        """The leads `make` is expected to create through `channel` on `day`, by campaign
        (None: no campaign): the volume the day's traffic has to bring."""
        total = self.total * v.CHANNEL_WEIGHTS[channel] / sum(v.CHANNEL_WEIGHTS.values())
        booths = self.book.booths(channel)
        walk_in = 1 - BOOTH_SHARE if booths else 1.0
        found = {
            utm: total * walk_in * self.day_share.get(day, 0) * share
            for utm, share in self.book.shares(channel, day).items()
        }
        for utm, share in booths.items():
            live = self.book.by_utm[utm].live
            if live[0] <= day <= live[1]:
                days_held = (live[1] - live[0]).days + 1
                found[utm] = found.get(utm, 0) + total * BOOTH_SHARE * share / days_held
        return found

    def _when(self, channel: str) -> tuple[datetime, str | None]:
        """When a lead of `channel` is created, and the campaign it came through."""
        rng, booths = self.rng, self.book.booths(channel)
        if booths and rng.random() < BOOTH_SHARE:
            campaign = pick(rng, booths)
            start, end = self.book.by_utm[campaign].live
            day = start + timedelta(days=rng.randint(0, (end - start).days))
            days_ago = (self.today - day).days
        else:
            days_ago = rng.choices(self.days, cum_weights=self.day_cum_weights)[0]
            campaign = self.book.pick(rng, channel, self.today - timedelta(days=days_ago))
        office_minute = rng.randint(7 * 60, 19 * 60)
        return self.anchor - timedelta(days=days_ago) + timedelta(minutes=office_minute), campaign

    def make(self) -> LeadPlan:
        rng = self.rng
        channel = str(pick(rng, v.CHANNEL_WEIGHTS))
        created, campaign = self._when(channel)
        utm, cta, landing_page = first_touch(rng, channel, self.book.by_utm.get(campaign))
        first, last = rng.choice(v.FIRST_NAMES), rng.choice(v.LAST_NAMES)
        account = None
        if rng.random() < 0.93:
            account = rng.choices(range(len(self.accounts)), weights=self.account_weights)[0]
        domain = self.accounts[account].domain if account is not None else None
        moves = moves_plan(
            rng,
            channel=channel,
            created=created,
            anchor=self.anchor,
            employees=self.accounts[account].employees if account is not None else 20,
        )
        end = timeline_end(moves, self.anchor)
        closed = next((m.at for m in moves if m.to_stage in TERMINAL_STAGES), None)
        enrolments = enrolments_plan(
            rng, self.book, channel=channel, cta=cta, created=created,
            reached=stages_reached(created, moves), closed=closed, end=end,
        )
        returns = nurture_returns(enrolments)
        extra = nurture_activities(enrolments)
        if back := return_plan(rng, self.book, first=(channel, campaign), created=created, end=end):
            returns.append(back[0])
            extra.append(back[1])
        return LeadPlan(
            first_name=first,
            last_name=last,
            email=self._email(first, last, domain or rng.choice(v.FREE_MAIL_DOMAINS)),
            job_title=pick(rng, v.JOB_TITLES),
            account=account,
            owner=pick(rng, v.OWNER_WEIGHTS),
            channel=channel,
            campaign=campaign,
            created_at=created,
            created_by=DEMO if channel in v.FORM_CHANNELS else OWNER,
            moves=moves,
            activities=activities_plan(
                rng, channel=channel, cta=cta, created=created, moves=moves, anchor=self.anchor,
                extra=extra,
            ),
            utm=utm,
            cta=cta,
            landing_page=landing_page,
            returns=tuple(sorted(returns, key=lambda t: t.at)),
            enrolments=enrolments,
        )

    def _email(self, first: str, last: str, domain: str) -> str:
        local, n = f"{_ascii(first)}.{_ascii(last)}", 1
        email = f"{local}@{domain}"
        while email in self.emails:
            n += 1
            email = f"{local}{n}@{domain}"
        self.emails.add(email)
        return email
