"""Demo data for `manage.py seed_demo`: a pure, seeded plan (plan.py) built from small hard-coded
word lists (vocabulary.py). The command writes the plan through the lead services."""

from .plan import (
    DEMO,
    OWNER,
    AccountPlan,
    ActivityPlan,
    CampaignPlan,
    DemoPlan,
    LeadPlan,
    MovePlan,
    demo_anchor,
    demo_plan,
)
from .vocabulary import DEMO_USERS, DemoUser

__all__ = [
    "DEMO",
    "DEMO_USERS",
    "OWNER",
    "AccountPlan",
    "ActivityPlan",
    "CampaignPlan",
    "DemoPlan",
    "DemoUser",
    "LeadPlan",
    "MovePlan",
    "demo_anchor",
    "demo_plan",
]
