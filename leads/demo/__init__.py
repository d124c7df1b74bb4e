"""Demo data for `manage.py seed_demo`: a pure, seeded plan (plan.py, history.py) of plain records
(records.py) built from small hard-coded word lists (vocabulary.py). The command writes the plan
through the lead services."""

from .plan import demo_anchor, demo_plan
from .records import (
    DEMO,
    OWNER,
    AccountPlan,
    ActivityPlan,
    CampaignPlan,
    DemoPlan,
    LeadPlan,
    MovePlan,
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
