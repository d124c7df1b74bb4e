"""A HubSpot contacts export: its headers (matched case-sensitively) and value mappings, exactly as
issue 4 gives them."""

from __future__ import annotations

from datetime import datetime

from campaigns.models import Channel

from ..stages import Stage
from .rows import (
    ImportRow,
    RowError,
    cell,
    limit,
    parse_count,
    parse_country,
    parse_email,
    parse_when,
    reached_dates,
)

REQUIRED = (
    "Record ID", "First Name", "Last Name", "Email", "Company Name", "Job Title",
    "Lifecycle Stage", "Original Source", "Create Date",
    "Became a Lead Date", "Became a Marketing Qualified Lead Date",
    "Became a Sales Qualified Lead Date", "Became an Opportunity Date", "Became a Customer Date",
)
OPTIONAL = ("Industry", "Number of Employees", "Country/Region", "Contact owner")

DATE_COLUMNS = {
    Stage.LEAD: "Became a Lead Date",
    Stage.MQL: "Became a Marketing Qualified Lead Date",
    Stage.SQL: "Became a Sales Qualified Lead Date",
    Stage.OPPORTUNITY: "Became an Opportunity Date",
    Stage.WON: "Became a Customer Date",
}
# Where a missing entry date is taken from, for the error message: Create Date is the fallback.
_ENTRY_COLUMNS = {**DATE_COLUMNS, Stage.LEAD: "Create Date"}

SUBSCRIBER = "subscriber"
OTHER_REASON = "imported as Other"
LIFECYCLE = {
    "Lead": Stage.LEAD, "lead": Stage.LEAD,
    "Marketing Qualified Lead": Stage.MQL, "marketingqualifiedlead": Stage.MQL,
    "Sales Qualified Lead": Stage.SQL, "salesqualifiedlead": Stage.SQL,
    "Opportunity": Stage.OPPORTUNITY, "opportunity": Stage.OPPORTUNITY,
    "Customer": Stage.WON, "customer": Stage.WON,
    "Evangelist": Stage.WON, "evangelist": Stage.WON,
    "Other": Stage.DISQUALIFIED, "other": Stage.DISQUALIFIED,
    "Subscriber": SUBSCRIBER, "subscriber": SUBSCRIBER,
}
SOURCE = {
    "ORGANIC_SEARCH": Channel.ORGANIC_SEARCH,
    "PAID_SEARCH": Channel.PAID_SEARCH,
    "PAID_SOCIAL": Channel.PAID_SOCIAL,
    "SOCIAL_MEDIA": Channel.ORGANIC_SOCIAL,
    "EMAIL_MARKETING": Channel.EMAIL,
    "REFERRALS": Channel.REFERRAL,
    "DIRECT_TRAFFIC": Channel.DIRECT,
    "OFFLINE": Channel.EVENTS,
    "OTHER_CAMPAIGNS": Channel.OTHER,
}


def hubspot_row(row: dict, *, line: int, now: datetime) -> ImportRow | None:
    """The row as an ImportRow, None for a subscriber (skipped: a subscriber is not a lead), or
    RowError naming the column."""
    lifecycle = cell(row, "Lifecycle Stage")
    if lifecycle not in LIFECYCLE:
        raise RowError(
            f"Lifecycle Stage: '{lifecycle}' is not a HubSpot lifecycle stage"
            if lifecycle else "Lifecycle Stage: missing"
        )
    stage = LIFECYCLE[lifecycle]
    if stage == SUBSCRIBER:
        return None
    email = parse_email(cell(row, "Email"))
    created = parse_when(cell(row, "Create Date"), "Create Date", now=now)
    dates = {s: parse_when(cell(row, c), c, now=now) for s, c in DATE_COLUMNS.items()}
    if dates[Stage.LEAD] is None:
        dates[Stage.LEAD] = created
    reached = reached_dates(stage=stage, dates=dates, columns=_ENTRY_COLUMNS)
    record_id = cell(row, "Record ID")
    return ImportRow(
        line=line,
        email=email,
        external_id=f"hubspot:{limit(record_id, 'Record ID', 100)}" if record_id else "",
        first_name=limit(cell(row, "First Name"), "First Name", 100),
        last_name=limit(cell(row, "Last Name"), "Last Name", 100),
        job_title=limit(cell(row, "Job Title"), "Job Title", 200),
        company=limit(cell(row, "Company Name"), "Company Name", 200),
        industry=limit(cell(row, "Industry"), "Industry", 100),
        employees=parse_count(cell(row, "Number of Employees"), "Number of Employees"),
        country=parse_country(cell(row, "Country/Region"), "Country/Region"),
        owner=cell(row, "Contact owner"),
        stage=stage,
        exit_reason=OTHER_REASON if stage == Stage.DISQUALIFIED else "",
        reached=reached,
        # An Other contact's export has no date for leaving the funnel: the latest date it has.
        closed_at=max(reached.values()) if stage in (Stage.WON, Stage.DISQUALIFIED) else None,
        channel=SOURCE.get(cell(row, "Original Source"), Channel.OTHER),
    )
