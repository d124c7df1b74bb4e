"""The demo's campaigns, and where each lead came from and came back through.

A campaign runs over a window of the history (`CampaignPlan.live`). A lead created on a day is
attributed to one of its channel's campaigns running that day, by their weights, or to none;
`CampaignBook.shares` is that rule as expected shares, which the metrics read to give each
campaign the traffic that brought its leads. Most event leads are met at a booth during the
event, so they crowd into the event's days.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from campaigns.models import Channel
from leads.models import ActivityType

from . import vocabulary as v
from .history import pick
from .records import DEMO, ActivityPlan, CampaignPlan, TouchPlan

CAMPAIGN_SHARE = 0.85  # of a channel's leads, while it has a campaign running; the rest untagged
BOOTH_SHARE = 0.6  # of event leads, met at a booth during an event
RETURN_SHARE = 0.08  # of leads, back later through another channel (nurture clicks come on top)
SPECS = {spec.utm_campaign: spec for spec in v.CAMPAIGNS}


def local_day(at: datetime) -> date:
    """The organisation's calendar day of a moment: the day its metrics are reported on."""
    return timezone.localtime(at, timezone.get_default_timezone()).date()


def campaigns_plan(days: tuple[date, ...], today: date) -> tuple[CampaignPlan, ...]:
    """The campaigns, dated from `today` (the anchor's day). Budgets come with the metrics
    (metrics.py), from what each campaign spent; here they are zero."""
    plans = []
    for spec in v.CAMPAIGNS:
        starts, ends = today + timedelta(spec.start), today + timedelta(spec.end)
        until = today + timedelta(spec.paused) if spec.paused is not None else ends
        live_from, live_until = max(starts, days[0]), min(until, days[-1])
        plans.append(
            CampaignPlan(
                name=spec.name,
                channel=str(spec.channel),
                utm_campaign=spec.utm_campaign,
                owner=v.DEMO_MARKETER,
                status=str(spec.status),
                starts_on=starts,
                ends_on=ends,
                budget=Decimal(0),
                utm_source=spec.utm_source,
                utm_medium=spec.utm_medium,
                landing_page_url=v.SITE + spec.landing_path,
                live=(live_from, live_until) if live_from <= live_until else None,
            )
        )
    return tuple(plans)


class CampaignBook:
    """Which campaign a lead of a channel came through on a given day."""

    def __init__(self, campaigns: tuple[CampaignPlan, ...]):
        self.by_utm = {c.utm_campaign: c for c in campaigns}
        self.by_channel: dict[str, list[CampaignPlan]] = {}
        for campaign in campaigns:
            self.by_channel.setdefault(campaign.channel, []).append(campaign)

    def shares(self, channel: str, day: date) -> dict[str | None, float]:
        """Each running campaign's expected share of the channel's leads that day (None: no
        campaign), excluding booth leads."""
        running = [c for c in self.by_channel.get(channel, ()) if c.is_live(day)]
        if not running:
            return {None: 1.0}
        total = sum(SPECS[c.utm_campaign].weight for c in running)
        return {
            None: 1 - CAMPAIGN_SHARE,
            **{
                c.utm_campaign: CAMPAIGN_SHARE * SPECS[c.utm_campaign].weight / total
                for c in running
            },
        }

    def pick(self, rng: random.Random, channel: str, day: date) -> str | None:
        shares = self.shares(channel, day)
        return rng.choices(list(shares), weights=list(shares.values()))[0]

    def booths(self, channel: str) -> dict[str, float]:
        """The events a lead of `channel` may be met at, with their share of booth leads."""
        if channel != Channel.EVENTS:
            return {}
        held = [c for c in self.by_channel.get(channel, ()) if c.live is not None]
        total = sum(SPECS[c.utm_campaign].weight for c in held)
        return {c.utm_campaign: SPECS[c.utm_campaign].weight / total for c in held}


def first_touch(rng: random.Random, channel: str, campaign: CampaignPlan | None) -> tuple:
    """(utm, cta, landing_page) of a lead created through `channel` and `campaign`."""
    typed_in = channel not in v.FORM_CHANNELS
    if campaign is not None:
        spec = SPECS[campaign.utm_campaign]
        utm = {
            "utm_source": campaign.utm_source,
            "utm_medium": campaign.utm_medium,
            "utm_campaign": campaign.utm_campaign,
            "utm_content": rng.choice(v.UTM_CONTENT[channel]),
            "utm_term": rng.choice(v.SEARCH_TERMS.get(campaign.utm_campaign, ("",))),
        }
        cta = spec.cta if typed_in or rng.random() < 0.85 else "contact-form"
        # A booth conversation is typed in by a rep: the lead never saw the event's page.
        return utm, cta, "" if typed_in else campaign.landing_page_url
    source, medium = rng.choice(v.UNTAGGED_UTM.get(channel, (("", ""),)))
    utm = {"utm_source": source, "utm_medium": medium, "utm_campaign": "", "utm_content": "",
           "utm_term": ""}
    if typed_in:
        return utm, v.TYPED_IN_CTA[channel], ""
    path = rng.choice(v.SITE_LANDING.get(channel, v.SITE_LANDING_DEFAULT))
    return utm, pick(rng, v.SITE_CTAS), v.SITE + path


def return_plan(
    rng: random.Random, book: CampaignBook, *, first: tuple, created: datetime, end: datetime
) -> tuple[TouchPlan, ActivityPlan] | None:
    """Maybe a visit back through another channel or campaign before `end`, with what the lead
    did on that visit: a page viewed or, from a campaign, sometimes its form submitted."""
    if rng.random() >= RETURN_SHARE:
        return None
    at = created + timedelta(minutes=rng.randint(1440, 60 * 1440))
    channel = str(pick(rng, v.RETURN_CHANNELS))
    campaign = book.pick(rng, channel, local_day(at))
    if at >= end or (channel, campaign) == first:
        return None
    touch = TouchPlan(at=at, channel=channel, campaign=campaign)
    if campaign is None:
        return touch, ActivityPlan(ActivityType.PAGE_VIEW, at, DEMO, {"url": rng.choice(v.PAGES)})
    spec = SPECS[campaign]
    if rng.random() < 0.5:
        form = {"form": v.CTA_FORMS[spec.cta], "cta": spec.cta, "campaign": campaign}
        return touch, ActivityPlan(ActivityType.FORM_SUBMITTED, at, DEMO, form)
    return touch, ActivityPlan(ActivityType.PAGE_VIEW, at, DEMO, {"url": spec.landing_path})
