"""The lifecycle's vocabulary: stages, their order, and which moves exist.

PRODUCT.md, "The lifecycle": lead -> mql -> sql -> opportunity -> won, with the exits lost
(after sql or opportunity) and disqualified (from lead, mql or sql).
"""

from django.db import models


class Stage(models.TextChoices):
    LEAD = "lead", "Lead"
    MQL = "mql", "MQL"
    SQL = "sql", "SQL"
    OPPORTUNITY = "opportunity", "Opportunity"
    WON = "won", "Won"
    LOST = "lost", "Lost"
    DISQUALIFIED = "disqualified", "Disqualified"


# The forward path. Its order is the order of the first-reached dates.
FUNNEL = (Stage.LEAD, Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.WON)
OPEN_STAGES = (Stage.LEAD, Stage.MQL, Stage.SQL, Stage.OPPORTUNITY)
TERMINAL_STAGES = (Stage.WON, Stage.LOST, Stage.DISQUALIFIED)
EXIT_STAGES = (Stage.LOST, Stage.DISQUALIFIED)

# Which stages each exit may be taken from.
EXIT_FROM = {
    Stage.LOST: (Stage.SQL, Stage.OPPORTUNITY),
    Stage.DISQUALIFIED: (Stage.LEAD, Stage.MQL, Stage.SQL),
}

# The Lead field that keeps the first time a lead reached each funnel stage.
REACHED_FIELD = {
    Stage.LEAD: "became_lead_at",
    Stage.MQL: "became_mql_at",
    Stage.SQL: "became_sql_at",
    Stage.OPPORTUNITY: "became_opportunity_at",
    Stage.WON: "became_won_at",
}


def funnel_index(stage: str) -> int:
    return FUNNEL.index(Stage(stage))
