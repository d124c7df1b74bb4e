"""The demo plan's records: plain, immutable values that `seed_demo` writes through the services.

Who did something is OWNER (the lead's owner) or DEMO (`SystemActor.DEMO`: forms, tracking,
nurture emails, automatic promotions); the command turns these into actors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
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
