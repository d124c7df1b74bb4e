"""The demo plan's records: plain, immutable values that `seed_demo` writes through the services.

Who did something is OWNER (the lead's owner) or DEMO (`SystemActor.DEMO`: forms, tracking,
nurture emails, automatic promotions); the command turns these into actors. Campaigns and
workflows are referred to by their utm_campaign and name, users by their username.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from leads.stages import FUNNEL, REACHED_FIELD, Stage, funnel_index

OWNER = "owner"
DEMO = "demo"


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
    owner: str  # a DEMO_USERS username
    status: str
    starts_on: date
    ends_on: date
    budget: Decimal
    utm_source: str
    utm_medium: str
    landing_page_url: str
    # Not stored: the days of the history it ran (drew traffic, spent, brought leads), both
    # included; None for a campaign that has not started.
    live: tuple[date, date] | None = None

    def is_live(self, day: date) -> bool:
        return self.live is not None and self.live[0] <= day <= self.live[1]


@dataclass(frozen=True)
class WorkflowPlan:
    name: str
    goal: str
    campaign: str  # utm_campaign of the email campaign that sends it


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
class TouchPlan:
    """A lead coming back through a channel or campaign after its creation: its last touch."""

    at: datetime
    channel: str
    campaign: str | None  # utm_campaign, or None for a visit no campaign brought


@dataclass(frozen=True)
class NurtureEmailPlan:
    """One email of a workflow to one lead: opens and clicks are unique, as the metrics count."""

    sent_at: datetime
    subject: str
    opened_at: datetime | None = None
    clicked_at: datetime | None = None
    unsubscribed_at: datetime | None = None


@dataclass(frozen=True)
class EnrolmentPlan:
    workflow: str  # a WorkflowPlan name
    entered_at: datetime
    goal_reached_at: datetime | None
    exited_at: datetime | None
    emails: tuple[NurtureEmailPlan, ...]


@dataclass(frozen=True)
class MetricPlan:
    """One day's figures of a channel (campaign None: the channel's total that day, its
    campaigns included) or of one of its campaigns. A figure left out is unknown (null)."""

    date: date
    channel: str
    campaign: str | None
    values: dict


def stages_reached(created_at: datetime, moves) -> dict[str, datetime]:
    """When a lead first reached each stage it reached: a forward move also stamps the funnel
    stages it skips with its own time (the plan has no backward moves); an exit is its move's."""
    first = {Stage.LEAD.value: created_at}
    for move in moves:
        stages = FUNNEL[: funnel_index(move.to_stage) + 1] if move.to_stage in FUNNEL else ()
        for stage in (*stages, move.to_stage):
            first.setdefault(str(stage), move.at)
    return first


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
    # First touch: what the lead came through (campaigns/attribution.py).
    utm: dict = field(default_factory=dict)  # utm_source, utm_medium, utm_campaign, ...
    cta: str = ""
    landing_page: str = ""
    returns: tuple[TouchPlan, ...] = ()  # later touches, in time order
    enrolments: tuple[EnrolmentPlan, ...] = ()

    @property
    def stage(self) -> str:
        return self.moves[-1].to_stage if self.moves else Stage.LEAD.value

    def reached(self) -> dict[str, datetime | None]:
        """The first-reached dates the services stamp, by Lead field."""
        first = stages_reached(self.created_at, self.moves)
        return {REACHED_FIELD[stage]: first.get(stage) for stage in FUNNEL}


@dataclass(frozen=True)
class DemoPlan:
    accounts: tuple[AccountPlan, ...]
    campaigns: tuple[CampaignPlan, ...]
    leads: tuple[LeadPlan, ...]
    workflows: tuple[WorkflowPlan, ...] = ()
    metrics: tuple[MetricPlan, ...] = ()
    days: tuple[date, ...] = ()  # the history's days, oldest first, in the organisation's zone
