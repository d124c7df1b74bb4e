"""Demo data for `manage.py seed_demo`: a pure, seeded plan (plan.py: leads and their history in
history.py, campaigns and touches in marketing.py, nurture in nurture.py, daily metrics in
metrics.py) of plain records (records.py) built from small hard-coded word lists
(vocabulary.py). The command writes the plan through the services."""

from .plan import demo_anchor, demo_plan
from .records import (
    DEMO,
    OWNER,
    AccountPlan,
    ActivityPlan,
    CampaignPlan,
    DemoPlan,
    EnrolmentPlan,
    LeadPlan,
    MetricPlan,
    MovePlan,
    NurtureEmailPlan,
    TouchPlan,
    WorkflowPlan,
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
    "EnrolmentPlan",
    "LeadPlan",
    "MetricPlan",
    "MovePlan",
    "NurtureEmailPlan",
    "TouchPlan",
    "WorkflowPlan",
    "demo_anchor",
    "demo_plan",
]
