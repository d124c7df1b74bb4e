"""The demo's daily marketing metrics: a row per channel for every day of the history, and a row
per campaign for every day it ran, coherent with the planned leads.

How the figures hang together:
- Traffic brings the leads. Each source of a channel's traffic (one of its campaigns, or the part
  no campaign brought) gets visitors = its leads / its conversion rate, its leads being a blend
  of the leads the plan expects that day and those it has, so that site conversion over a month
  sits near CONVERSION and a day with many leads had many visitors. A campaign's landing page
  converts better than the site (CAMPAIGN_LIFT).
- The rest follows from the visitors: sessions, pageviews, bounces and time on site by the
  channel's profile; ad clicks, impressions and spend by the campaign's CTR and CPC; organic
  impressions by a search or post CTR; engagements by an engagement rate.
- Email figures are the monthly newsletter's sends and exactly the nurture emails the leads were
  sent (nurture.py): delivered, opened, clicked and unsubscribed count them by their send day,
  and every click is a visit.
- A channel's row is its total that day: the sum of its campaigns' rows and of its untagged
  part, so a channel's count is never below the sum of its campaigns'. Followers and ranked
  keywords are levels, not flows: they are on the channel's row only.
- Figures that do not apply stay null: no emails for paid search, no spend for organic channels.
- Volumes and money scale with the number of leads, so the ratios read the same for any --leads.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import NamedTuple

from campaigns.models import EMAIL_FIELDS, CampaignStatus, Channel

from .marketing import SPECS, local_day
from .nurture import WORKFLOWS
from .records import CampaignPlan, LeadPlan, MetricPlan

DEFAULT_LEADS = 3000  # the volume the figures below are sized for
BLEND = 0.5  # weight of the day's actual leads against the expected ones
CAMPAIGN_LIFT = 1.25
# Site conversion rate, leads / visitors, by channel: 1-4 % is usual for B2B.
CONVERSION = {
    Channel.ORGANIC_SEARCH: 0.018,
    Channel.PAID_SEARCH: 0.028,
    Channel.PAID_SOCIAL: 0.02,
    Channel.ORGANIC_SOCIAL: 0.012,
    Channel.EMAIL: 0.035,
    Channel.REFERRAL: 0.035,
    Channel.DIRECT: 0.025,
    Channel.EVENTS: 0.035,
    Channel.OTHER: 0.015,
}


class Profile(NamedTuple):
    pages: float  # per session
    bounce: float  # bounced sessions / sessions
    seconds: int  # per session
    landing: float  # share of untagged visitors who enter on a landing page


PROFILES = {
    Channel.ORGANIC_SEARCH: Profile(2.8, 0.52, 165, 0.12),
    Channel.PAID_SEARCH: Profile(2.3, 0.58, 120, 0.5),
    Channel.PAID_SOCIAL: Profile(1.9, 0.63, 85, 0.5),
    Channel.ORGANIC_SOCIAL: Profile(2.1, 0.60, 95, 0.2),
    Channel.EMAIL: Profile(2.6, 0.45, 140, 0.3),
    Channel.REFERRAL: Profile(3.1, 0.41, 190, 0.1),
    Channel.DIRECT: Profile(3.4, 0.38, 210, 0.05),
    Channel.EVENTS: Profile(2.5, 0.44, 150, 0.3),
    Channel.OTHER: Profile(2.4, 0.55, 120, 0.1),
}
ADS = (Channel.PAID_SEARCH, Channel.PAID_SOCIAL)
UNTAGGED_ADS = {Channel.PAID_SEARCH: (4.2, 0.028), Channel.PAID_SOCIAL: (6.1, 0.011)}  # cpc, ctr
SPENDING = (*ADS, Channel.EMAIL, Channel.EVENTS)  # channels whose spend is known, zero or not
EMAIL_COST = 0.01  # EUR per email sent: the sending platform and the writing
NEWSLETTER = "newsletter-monthly"
SUBSCRIBERS = (4000, 9000)  # the newsletter's list at the history's start and end
CLICK_VISITS = (0.7, 0.2, 0.1)  # a newsletter's clicks arrive on its day and the two after


def metrics_plan(
    *, seed: int, days: tuple[date, ...], leads: tuple[LeadPlan, ...], campaigns, expected
) -> tuple[tuple[MetricPlan, ...], tuple[CampaignPlan, ...]]:
    """The daily metrics, and the campaigns with their budgets (what they spent, or planned to).
    `expected(channel, day)` gives the leads the plan expects, by campaign utm (None: none)."""
    maker = _MetricMaker(random.Random(f"{seed}:metrics"), days, leads, campaigns)
    rows = []
    for day in days:
        for channel in Channel.values:
            rows.extend(maker.day_rows(channel, day, expected(channel, day)))
    return tuple(rows), maker.with_budgets()


class _MetricMaker:
    def __init__(self, rng: random.Random, days, leads, campaigns):
        self.rng, self.days, self.campaigns = rng, days, campaigns
        self.scale = len(leads) / DEFAULT_LEADS
        self.actual = Counter((p.channel, p.campaign, local_day(p.created_at)) for p in leads)
        self.emails, self.visits = self._emails(leads)
        self.spent: dict[str, Decimal] = defaultdict(Decimal)
        self.followers, self.keywords = self._levels()

    def day_rows(self, channel: str, day: date, expected: dict) -> list[MetricPlan]:
        parts, rows = [], []
        for utm, leads in expected.items():
            blend = (1 - BLEND) * leads + BLEND * self.actual[channel, utm, day]
            values = self._source(channel, utm, day, blend)
            parts.append(values)
            if utm is not None:
                rows.append(MetricPlan(day, channel, utm, values))
                self.spent[utm] += values.get("spend", 0)
        total = {
            field: sum(values[field] for values in parts if field in values)
            for field in dict.fromkeys(f for values in parts for f in values)
        }
        if channel == Channel.ORGANIC_SOCIAL:
            total["followers"] = self.followers[day]
        if channel == Channel.ORGANIC_SEARCH:
            total["ranked_keywords"] = self.keywords[day]
        return [MetricPlan(day, channel, None, total), *rows]

    def _source(self, channel: str, utm: str | None, day: date, leads: float) -> dict:
        """One source's figures for the day: a campaign's, or the channel's untagged part."""
        rng, profile = self.rng, PROFILES[channel]
        conversion = CONVERSION[channel] * (CAMPAIGN_LIFT if utm else 1)
        visitors = leads / conversion * rng.lognormvariate(0, 0.12) + self.visits[utm, day]
        landing = rng.uniform(0.85, 0.95) if utm else profile.landing
        values = _traffic(rng, profile, visitors, landing)
        if channel in ADS:
            spec = SPECS.get(utm)
            cpc, ctr = (spec.cpc, spec.ctr) if spec else UNTAGGED_ADS[channel]
            values |= _ads(rng, visitors, cpc, ctr, social=channel == Channel.PAID_SOCIAL)
        elif channel == Channel.ORGANIC_SEARCH:
            values["organic_impressions"] = round(visitors / rng.uniform(0.025, 0.04))
        elif channel == Channel.ORGANIC_SOCIAL:
            impressions = round(visitors / rng.uniform(0.008, 0.015))
            values["organic_impressions"] = impressions
            values["clicks"] = round(visitors / rng.uniform(0.8, 0.9))
            values["engagements"] = round(impressions * rng.uniform(0.02, 0.05))
        elif channel == Channel.EMAIL:
            sent = self.emails.get((utm, day), Counter())
            values |= {field: sent[field] for field in EMAIL_FIELDS}
            tool = SPECS[utm].cost * self.scale / 365 if utm else 0
            values["spend"] = _money(sent["emails_sent"] * EMAIL_COST + tool)
        elif channel == Channel.EVENTS:
            live = utm and self._campaign(utm).live
            cost = SPECS[utm].cost * self.scale / ((live[1] - live[0]).days + 1) if live else 0
            values["spend"] = _money(cost)
        return values

    def _campaign(self, utm: str) -> CampaignPlan:
        return next(c for c in self.campaigns if c.utm_campaign == utm)

    def _emails(self, leads) -> tuple[dict, Counter]:
        """Email figures by (campaign, send day), and the visits their clicks bring."""
        figures: dict[tuple, Counter] = defaultdict(Counter)
        visits: Counter = Counter()
        for lead in leads:
            for enrolment in lead.enrolments:
                utm = WORKFLOWS[enrolment.workflow].campaign
                for email in enrolment.emails:
                    figures[utm, local_day(email.sent_at)].update(
                        emails_delivered=1,
                        emails_opened=email.opened_at is not None,
                        emails_clicked=email.clicked_at is not None,
                        emails_unsubscribed=email.unsubscribed_at is not None,
                    )
                    if email.clicked_at is not None:
                        visits[utm, local_day(email.clicked_at)] += 1
        for sent in figures.values():  # a few addresses bounce
            sent["emails_sent"] = sent["emails_delivered"] + sum(
                self.rng.random() < 0.02 for _ in range(sent["emails_delivered"])
            )
        newsletter = self._campaign(NEWSLETTER)
        for n, day in enumerate(self.days):
            if newsletter.is_live(day) and day.weekday() == 1 and day.day <= 7:  # 1st Tuesday
                issue = self._newsletter_issue(n / len(self.days))
                figures[NEWSLETTER, day].update(issue)
                for after, share in enumerate(CLICK_VISITS):
                    later = day + timedelta(days=after)
                    visits[NEWSLETTER, later] += issue["emails_clicked"] * share
        return figures, visits

    def _newsletter_issue(self, progress: float) -> dict[str, int]:
        rng = self.rng
        start, end = SUBSCRIBERS
        sent = round(self.scale * (start + (end - start) * progress) * rng.uniform(0.98, 1.02))
        delivered = round(sent * rng.uniform(0.975, 0.992))
        return {
            "emails_sent": sent,
            "emails_delivered": delivered,
            "emails_opened": round(delivered * rng.uniform(0.22, 0.34)),
            "emails_clicked": round(delivered * rng.uniform(0.025, 0.045)),
            "emails_unsubscribed": round(delivered * rng.uniform(0.001, 0.004)),
        }

    def _levels(self) -> tuple[dict, dict]:
        """Organic social followers, growing faster as the brand grows, and the keywords the
        site ranks for, climbing slowly with some day-to-day wobble."""
        rng, followers, by_day, keywords = self.rng, 2400, {}, {}
        for n, day in enumerate(self.days):
            progress = n / len(self.days)
            followers += max(-3, round(rng.gauss(2 + 8 * progress, 3)))
            by_day[day] = followers
            keywords[day] = max(0, round(180 + 280 * progress**1.3 + rng.gauss(0, 4)))
        return by_day, keywords

    def with_budgets(self) -> tuple[CampaignPlan, ...]:
        """Budgets from spend: an ended campaign spent a little under its budget, a running or
        paused one is on course to spend it by its end, a draft has its planned one."""
        budgeted = []
        for campaign in self.campaigns:
            spec, spent = SPECS[campaign.utm_campaign], float(self.spent[campaign.utm_campaign])
            if campaign.live is None:
                budget = spec.cost * self.scale
            elif campaign.status == CampaignStatus.ENDED:
                budget = spent * self.rng.uniform(1.0, 1.08)
            else:
                ran = (campaign.live[1] - campaign.live[0]).days + 1
                planned = (campaign.ends_on - campaign.starts_on).days + 1
                budget = spent / ran * planned * self.rng.uniform(1.02, 1.1)
            budgeted.append(replace(campaign, budget=_round_up(budget)))
        return tuple(budgeted)


def _traffic(rng: random.Random, profile: Profile, visitors: float, landing: float) -> dict:
    sessions = max(round(visitors * rng.uniform(1.12, 1.4)), round(visitors))
    bounce = min(0.65, max(0.35, profile.bounce + rng.uniform(-0.04, 0.04)))
    return {
        "visitors": round(visitors),
        "sessions": sessions,
        "pageviews": round(sessions * profile.pages * rng.uniform(0.9, 1.1)),
        "bounced_sessions": round(sessions * bounce),
        "time_on_site_seconds": round(sessions * profile.seconds * rng.uniform(0.85, 1.15)),
        "landing_page_visitors": round(round(visitors) * landing),
    }


def _ads(rng: random.Random, visitors: float, cpc: float, ctr: float, *, social: bool) -> dict:
    """Ad figures behind `visitors`: some clicks never load the page."""
    clicks = visitors / rng.uniform(0.82, 0.92)
    impressions = round(clicks / (ctr * rng.uniform(0.85, 1.15)))
    values = {
        "impressions": impressions,
        "clicks": round(clicks),
        "spend": _money(round(clicks) * cpc * rng.uniform(0.85, 1.15)),
    }
    if social:
        values["engagements"] = round(impressions * rng.uniform(0.004, 0.012))
    return values


def _money(amount: float) -> Decimal:
    return Decimal(f"{amount:.2f}")


def _round_up(amount: float) -> Decimal:
    """Up to two significant digits, as a budget is planned: 23,417 -> 24,000."""
    if amount <= 0:
        return Decimal(0)
    step = 10 ** max(0, math.floor(math.log10(amount)) - 1)
    return Decimal(math.ceil(amount / step) * step)

