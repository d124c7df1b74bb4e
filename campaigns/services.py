from django.core.exceptions import PermissionDenied
from django.db import transaction

from leads.actors import Actor, is_user

from .models import Campaign


@transaction.atomic
def campaign_create(*, actor: Actor, name: str, channel: str, utm_campaign: str) -> Campaign:
    if is_user(actor) and not actor.has_perm("campaigns.add_campaign"):
        raise PermissionDenied("You may not create campaigns.")
    campaign = Campaign(name=name.strip(), channel=channel, utm_campaign=utm_campaign.strip())
    campaign.full_clean()
    campaign.save(force_insert=True)
    return campaign
