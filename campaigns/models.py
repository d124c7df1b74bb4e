"""Channels and campaigns. The campaigns issue extends Campaign with budget, dates, owner, status,
UTM codes and daily metrics; the foundation needs only what a lead points at."""

from django.db import models


class Channel(models.TextChoices):
    ORGANIC_SEARCH = "organic_search", "Organic search"
    PAID_SEARCH = "paid_search", "Paid search"
    PAID_SOCIAL = "paid_social", "Paid social"
    ORGANIC_SOCIAL = "organic_social", "Organic social"
    EMAIL = "email", "Email"
    REFERRAL = "referral", "Referral"
    DIRECT = "direct", "Direct"
    EVENTS = "events", "Events"
    OTHER = "other", "Other"


class Campaign(models.Model):
    name = models.CharField(max_length=200)
    channel = models.CharField(max_length=32, choices=Channel.choices)
    utm_campaign = models.SlugField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(channel__in=Channel.values), name="campaign_channel_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name
