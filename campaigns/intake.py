"""Web-to-lead: what a website's form posts to `POST /api/v1/intake/` becomes here (PRODUCT.md,
"Leads come in through ... a public web-to-lead endpoint (validated, rate-limited, deduplicated by
email)").

The HTTP door (`campaigns/api/views.py`) checks the form key, drops honeypot hits and validates the
fields; this module decides what a valid submission writes, whichever door it came through.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from leads.actors import SystemActor
from leads.models import Account, Activity, ActivityType, Lead
from leads.services import account_create, activity_create, lead_create, lead_touch_record

from .attribution import UTM_FIELDS, Touch, touch_resolve
from .models import Campaign, Channel

ACTOR = SystemActor.API

# The field a website's form hides from humans: a person leaves it empty, a form-filling bot
# does not. Its name is one bots like to fill.
HONEYPOT_FIELD = "website"


@dataclass(frozen=True)
class IntakeResult:
    lead: Lead
    created: bool  # False: the email was already a lead's, which came back
    activity: Activity


def honeypot_filled(data: Any) -> bool:
    """Whether a raw submission filled the honeypot field, i.e. came from a bot."""
    if not isinstance(data, Mapping):
        return False
    value = data.get(HONEYPOT_FIELD)
    return bool(value.strip()) if isinstance(value, str) else bool(value)


def _touch(*, campaign: Campaign, data: Mapping[str, str]) -> Touch:
    """A utm_campaign naming a campaign wins (touch_resolve's rule); otherwise the submission came
    through the form key's campaign, and that campaign and its channel are the touch's."""
    utm = {f: data.get(f, "") for f in UTM_FIELDS}
    details = {"cta": data.get("cta", ""), "landing_page": data.get("landing_page", "")}
    touch = touch_resolve(utm=utm, default_channel=Channel.DIRECT, **details)
    if touch.campaign is None:
        touch = touch_resolve(utm=utm, campaign=campaign, **details)
    return touch


def _lead_by_email(email: str) -> Lead | None:
    # Lower(email) is what the unique index lead_email_unique_ci covers.
    return (
        Lead.objects.alias(email_lower=Lower("email"))
        .filter(email_lower=email.lower())
        .first()
    )


def _account_for(company: str) -> Account | None:
    company = company.strip()
    if not company:
        return None
    existing = Account.objects.filter(name__iexact=company).order_by("pk").first()
    return existing or account_create(actor=ACTOR, name=company)


def _payload(*, form_campaign: Campaign, touch: Touch) -> dict[str, str]:
    return {
        "form_campaign": form_campaign.utm_campaign,
        "campaign": touch.campaign.utm_campaign if touch.campaign else "",
        "channel": touch.channel,
        "cta": touch.cta,
        "landing_page": touch.landing_page,
        **touch.utm,
    }


@transaction.atomic
def form_submission_receive(
    *, campaign: Campaign, data: Mapping[str, str], at: datetime | None = None
) -> IntakeResult:
    """Turn one validated web-form submission, sent with `campaign`'s form key, into a lead.

    - A new email creates a lead in stage `lead` whose first and last touch are this submission.
      It has no owner: unassigned leads are seen by managers and marketers (who may see every
      lead), not by reps, until someone assigns them. A `company` reuses the account of that name
      (ignoring case) or creates one.
    - An email that is already a lead's (ignoring case and surrounding spaces) creates nothing
      new: the lead's last touch moves to this submission; its first touch, contact fields and
      account stay as they were.
    - Either way a `form_submitted` activity is logged, so engagement scoring counts it.

    Two identical submissions at once create one lead: the second one's insert hits the email's
    unique constraint (lead_create raises a ValidationError on `email`), and it is then recorded
    as a return of the lead the first one created.
    """
    at = at or timezone.now()
    email = data["email"].strip()
    touch = _touch(campaign=campaign, data=data)

    lead = _lead_by_email(email)
    created = False
    if lead is None:
        try:
            with transaction.atomic():  # the account goes too if the lead loses the race
                lead = lead_create(
                    actor=ACTOR,
                    email=email,
                    first_name=data.get("first_name", ""),
                    last_name=data.get("last_name", ""),
                    phone=data.get("phone", ""),
                    job_title=data.get("job_title", ""),
                    account=_account_for(data.get("company", "")),
                    owner=None,
                    campaign=touch.campaign,
                    channel=touch.channel,
                    utm=touch.utm,
                    cta=touch.cta,
                    landing_page=touch.landing_page,
                    at=at,
                )
            created = True
        except ValidationError as exc:
            lead = _lead_by_email(email) if "email" in getattr(exc, "error_dict", {}) else None
            if lead is None:
                raise
    if not created:
        lead = lead_touch_record(lead=lead, touch=touch, actor=ACTOR, at=at)

    activity = activity_create(
        lead=lead,
        type=ActivityType.FORM_SUBMITTED,
        actor=ACTOR,
        at=at,
        payload=_payload(form_campaign=campaign, touch=touch),
    )
    return IntakeResult(lead=lead, created=created, activity=activity)
