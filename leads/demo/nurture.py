"""Nurture workflows and the leads enrolled in them, with the emails each enrolment sends.

A lead is enrolled by what it asked for (its CTA: a pricing guide, a webinar seat, the
newsletter) or, for the pricing guide sequence, when it becomes an MQL. A sequence sends one
email a week and ends at its goal stage, at the lead's close, at an unsubscribe or after its last
email's week; an enrolment still running at the anchor has no exit. Every nurture email the
leads' timelines show comes from an enrolment, and the email campaigns' daily figures count
exactly these emails (metrics.py), so activities, enrolments and metrics agree.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from campaigns.models import Channel
from leads.models import ActivityType
from leads.stages import Stage

from . import vocabulary as v
from .marketing import CampaignBook, local_day
from .records import DEMO, ActivityPlan, EnrolmentPlan, NurtureEmailPlan, TouchPlan, WorkflowPlan

WORKFLOWS = {spec.name: spec for spec in v.WORKFLOWS}
P_OPEN, P_CLICK, P_UNSUBSCRIBE = 0.36, 0.14, 0.01  # per email; a click needs an open
P_MQL_ENROL = 0.35  # of new MQLs, enrolled in the pricing guide sequence


def workflows_plan() -> tuple[WorkflowPlan, ...]:
    return tuple(WorkflowPlan(s.name, s.goal, s.campaign) for s in v.WORKFLOWS)


def _minutes(rng: random.Random, low: int, high: int) -> timedelta:
    return timedelta(minutes=rng.randint(low, high))


def enrolments_plan(
    rng: random.Random,
    book: CampaignBook,
    *,
    channel: str,
    cta: str,
    created: datetime,
    reached: dict[str, datetime],
    closed: datetime | None,
    end: datetime,
) -> tuple[EnrolmentPlan, ...]:
    """A lead's enrolments. `reached` holds its first-reached stage times, `end` is when its
    timeline ends (the anchor, or a day after its close)."""
    entries: dict[str, datetime] = {}
    if cta == "pricing-guide":
        entries["Pricing guide follow-up"] = created + _minutes(rng, 5, 60)
    elif cta == "webinar-signup":
        entries["Webinar attendees"] = created + _minutes(rng, 1440, 3 * 1440)
    if cta == "newsletter-signup" or (channel == Channel.EMAIL and rng.random() < 0.6):
        entries["Newsletter onboarding"] = created + _minutes(rng, 5, 60)
    mql = reached.get(Stage.MQL)
    if mql and "Pricing guide follow-up" not in entries and rng.random() < P_MQL_ENROL:
        entries["Pricing guide follow-up"] = mql + _minutes(rng, 60, 12 * 60)
    enrolments = []
    for name, entered in sorted(entries.items(), key=lambda item: item[1]):
        spec = WORKFLOWS[name]
        running = book.by_utm[spec.campaign].is_live(local_day(entered))
        if running and entered < end and (closed is None or entered < closed):
            goal = reached.get(spec.goal_stage)
            goal = goal if goal is not None and goal >= entered else None
            enrolments.append(_enrolment(rng, spec, entered, goal, closed, end))
    return tuple(enrolments)


def _enrolment(rng, spec, entered, goal, closed, end) -> EnrolmentPlan:
    stop = min(t for t in (goal, closed, end) if t is not None)
    emails: list[NurtureEmailPlan] = []
    for week, subject in enumerate(spec.subjects):
        sent = entered + timedelta(days=7 * week) + _minutes(rng, 10, 240)
        if sent >= stop:
            break
        email = _email(rng, sent, subject, end)
        emails.append(email)
        if email.unsubscribed_at is not None:
            break
    unsubscribed = emails[-1].unsubscribed_at if emails else None
    finished = entered + timedelta(days=7 * len(spec.subjects))
    exited = min(t for t in (goal, closed, unsubscribed, finished) if t is not None)
    exited = exited if exited < end else None
    reached_goal = goal if goal is not None and (exited is None or goal <= exited) else None
    return EnrolmentPlan(spec.name, entered, reached_goal, exited, tuple(emails))


def _email(rng, sent: datetime, subject: str, end: datetime) -> NurtureEmailPlan:
    """One email and what the lead did with it, all before `end`."""
    opened = clicked = unsubscribed = None
    if rng.random() < P_OPEN:
        opened = sent + _minutes(rng, 5, 2 * 1440)
        if rng.random() < P_CLICK:
            clicked = opened + _minutes(rng, 1, 30)
    if rng.random() < P_UNSUBSCRIBE:
        unsubscribed = (opened or sent) + _minutes(rng, 1, 600)
    opened, clicked, unsubscribed = (t if t and t < end else None for t in (opened, clicked,
                                                                            unsubscribed))
    if opened is None:
        clicked = None
    return NurtureEmailPlan(sent, subject, opened, clicked, unsubscribed)


def nurture_activities(enrolments: tuple[EnrolmentPlan, ...]) -> list[ActivityPlan]:
    """The timeline entries of a lead's nurture emails."""
    found = []
    for enrolment in enrolments:
        for email in enrolment.emails:
            payload = {"subject": email.subject, "workflow": enrolment.workflow}
            for type_, at in (
                (ActivityType.EMAIL_SENT, email.sent_at),
                (ActivityType.EMAIL_OPENED, email.opened_at),
                (ActivityType.EMAIL_CLICKED, email.clicked_at),
                (ActivityType.UNSUBSCRIBED, email.unsubscribed_at),
            ):
                if at is not None:
                    found.append(ActivityPlan(type_, at, DEMO, payload))
    return found


def nurture_returns(enrolments: tuple[EnrolmentPlan, ...]) -> list[TouchPlan]:
    """A click in a nurture email brings the lead back through that email's campaign."""
    return [
        TouchPlan(at=email.clicked_at, channel=Channel.EMAIL.value,
                  campaign=WORKFLOWS[enrolment.workflow].campaign)
        for enrolment in enrolments
        for email in enrolment.emails
        if email.clicked_at is not None
    ]
