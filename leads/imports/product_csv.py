"""FunnelCRM's own CSV: one column per lead field (README, "Importing leads"). Only `email` is
required; every other column may be left out or left empty."""

from __future__ import annotations

from datetime import datetime

from campaigns.attribution import UTM_FIELDS
from campaigns.models import Channel

from ..stages import FUNNEL, REACHED_FIELD, TERMINAL_STAGES, Stage
from .rows import (
    ImportRow,
    RowError,
    cell,
    fold_case,
    limit,
    parse_amount,
    parse_count,
    parse_country,
    parse_email,
    parse_when,
    reached_dates,
)

REQUIRED = ("email",)
OPTIONAL = (
    "external_id", "first_name", "last_name", "phone", "job_title",
    "company", "company_domain", "industry", "employees", "country", "owner",
    "stage", "exit_reason", "deal_amount",
    "created_at", *REACHED_FIELD.values(), "closed_at",
    "channel", "campaign", *UTM_FIELDS, "cta", "landing_page",
)
DATE_COLUMNS = dict(REACHED_FIELD)
_ENTRY_COLUMNS = {**DATE_COLUMNS, Stage.LEAD: "became_lead_at"}


def product_row(row: dict, *, line: int, now: datetime) -> ImportRow:
    email = parse_email(cell(row, "email"), "email")
    stage_value = cell(row, "stage").lower() or Stage.LEAD
    if stage_value not in Stage.values:
        raise RowError(f"stage: '{stage_value}' is not a stage (use one of {', '.join(Stage)})")
    stage = Stage(stage_value)
    exit_reason = limit(cell(row, "exit_reason"), "exit_reason", 500)
    if stage in (Stage.LOST, Stage.DISQUALIFIED) and not exit_reason:
        raise RowError(f"exit_reason: a {stage.label.lower()} lead needs a reason")
    dates = {s: parse_when(cell(row, c), c, now=now) for s, c in DATE_COLUMNS.items()}
    if dates[Stage.LEAD] is None:
        dates[Stage.LEAD] = parse_when(cell(row, "created_at"), "created_at", now=now)
    reached = reached_dates(stage=stage, dates=dates, columns=_ENTRY_COLUMNS)
    closed_at = None
    if stage in TERMINAL_STAGES:
        latest = max(reached.values())
        closed_at = parse_when(cell(row, "closed_at"), "closed_at", now=now) or latest
        if stage == Stage.WON:
            closed_at = reached[Stage.WON]
        elif closed_at < latest:
            raise RowError(
                f"closed_at: {closed_at.isoformat()} is before the lead reached "
                f"{FUNNEL[len(reached) - 1].label} ({latest.isoformat()})"
            )
    channel = cell(row, "channel").lower()
    if channel and channel not in Channel.values:
        raise RowError(f"channel: '{channel}' is not a channel (use one of {', '.join(Channel)})")
    return ImportRow(
        line=line,
        email=email,
        external_id=(
            f"csv:{limit(cell(row, 'external_id'), 'external_id', 100)}"
            if cell(row, "external_id") else ""
        ),
        first_name=limit(cell(row, "first_name"), "first_name", 100),
        last_name=limit(cell(row, "last_name"), "last_name", 100),
        phone=limit(cell(row, "phone"), "phone", 50),
        job_title=limit(cell(row, "job_title"), "job_title", 200),
        company=limit(cell(row, "company"), "company", 200),
        company_domain=limit(fold_case(cell(row, "company_domain")), "company_domain", 253),
        industry=limit(cell(row, "industry"), "industry", 100),
        employees=parse_count(cell(row, "employees"), "employees"),
        country=parse_country(cell(row, "country"), "country"),
        owner=cell(row, "owner"),
        stage=stage,
        exit_reason=exit_reason if stage in (Stage.LOST, Stage.DISQUALIFIED) else "",
        deal_amount=parse_amount(cell(row, "deal_amount"), "deal_amount"),
        reached=reached,
        closed_at=closed_at,
        channel=channel,
        campaign=cell(row, "campaign"),
        utm={f: limit(cell(row, f), f, 200) for f in UTM_FIELDS},
        cta=limit(cell(row, "cta"), "cta", 200),
        landing_page=limit(cell(row, "landing_page"), "landing_page", 500),
    )
