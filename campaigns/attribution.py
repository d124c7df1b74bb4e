"""Attribution: which channel and campaign a touch (a form post, an import row, a UI entry) came
through. PRODUCT.md: a lead keeps its first touch from creation and its last touch from its latest
return; spend is attributed to leads and customers by them.

The rule, in order:
1. a campaign given directly, or the campaign whose utm_campaign matches (ignoring case), decides,
   and its channel is used;
2. otherwise a channel named by the caller (a form's hidden field, an import's source column);
3. otherwise the channel the UTM source and medium conventionally mean (Google Analytics' default
   channel grouping, reduced to our nine channels);
4. otherwise the caller's default: `direct` for a web form with no UTM at all, `other` elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .models import Campaign, Channel

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")

_SOCIAL_SOURCES = frozenset({
    "linkedin", "facebook", "fb", "meta", "instagram", "ig", "twitter", "x", "tiktok", "youtube",
    "reddit", "pinterest", "xing",
})
_SEARCH_SOURCES = frozenset({"google", "bing", "duckduckgo", "yahoo", "ecosia", "baidu", "yandex"})
_MEDIUM_CHANNEL = {
    **dict.fromkeys(("cpc", "ppc", "paidsearch", "paid-search", "paid_search", "sem"),
                    Channel.PAID_SEARCH),
    **dict.fromkeys(("paid_social", "paidsocial", "paid-social", "social-paid", "social_paid"),
                    Channel.PAID_SOCIAL),
    **dict.fromkeys(("social", "social-network", "social-media", "sm", "organic_social",
                     "organic-social"), Channel.ORGANIC_SOCIAL),
    **dict.fromkeys(("email", "e-mail", "e_mail", "newsletter"), Channel.EMAIL),
    **dict.fromkeys(("referral", "affiliate", "partner"), Channel.REFERRAL),
    **dict.fromkeys(("organic", "seo", "organic_search"), Channel.ORGANIC_SEARCH),
    **dict.fromkeys(("event", "events", "offline", "booth", "tradeshow", "trade-show"),
                    Channel.EVENTS),
    **dict.fromkeys(("(none)", "none", "direct"), Channel.DIRECT),
}


@dataclass(frozen=True)
class Touch:
    """One resolved touch: what the lead's first-touch or last-touch fields are set from."""

    channel: str
    campaign: Campaign | None = None
    utm: dict[str, str] = field(default_factory=dict)
    cta: str = ""
    landing_page: str = ""


def channel_from_utm(*, source: str, medium: str) -> str | None:
    source, medium = source.strip().lower(), medium.strip().lower()
    channel = _MEDIUM_CHANNEL.get(medium)
    if channel == Channel.PAID_SEARCH and source in _SOCIAL_SOURCES:
        return Channel.PAID_SOCIAL  # "cpc" from LinkedIn is a paid social ad
    if channel is None and medium in ("cpm", "display", "paid") and source in _SOCIAL_SOURCES:
        return Channel.PAID_SOCIAL
    if channel is None and not medium and source:
        if source in _SOCIAL_SOURCES:
            return Channel.ORGANIC_SOCIAL
        if source in _SEARCH_SOURCES:
            return Channel.ORGANIC_SEARCH
    if channel is None and (medium or source):
        return Channel.OTHER
    return channel


def campaign_for_utm(utm_campaign: str) -> Campaign | None:
    utm_campaign = (utm_campaign or "").strip()
    if not utm_campaign:
        return None
    return Campaign.objects.filter(utm_campaign__iexact=utm_campaign).first()


def touch_resolve(
    *,
    utm: dict[str, str] | None = None,
    campaign: Campaign | None = None,
    channel: str | None = None,
    cta: str = "",
    landing_page: str = "",
    default_channel: str = Channel.OTHER,
    campaigns_by_utm: dict[str, Campaign] | None = None,
) -> Touch:
    """Resolve a touch by the rule in this module's docstring. UTM values are trimmed and kept as
    given (their case too): they are what the marketer typed into the link. A bulk caller passes
    `campaigns_by_utm` (lower-cased utm_campaign -> campaign) to save a query per touch."""
    utm = {k: (utm or {}).get(k, "").strip() for k in UTM_FIELDS}
    if campaign is None and campaigns_by_utm is not None:
        campaign = campaigns_by_utm.get(utm["utm_campaign"].lower())
    elif campaign is None:
        campaign = campaign_for_utm(utm["utm_campaign"])
    if campaign is not None:
        resolved = campaign.channel
    elif channel:
        resolved = channel
    else:
        resolved = (
            channel_from_utm(source=utm["utm_source"], medium=utm["utm_medium"]) or default_channel
        )
    return Touch(
        channel=resolved,
        campaign=campaign,
        utm=utm,
        cta=cta.strip(),
        landing_page=landing_page.strip(),
    )


def touch_first_fields(touch: Touch, *, at) -> dict:
    """The Lead fields a lead's first touch sets at creation: first and last touch alike, since
    the first touch is also the latest one so far."""
    return {
        "first_touch_channel": touch.channel,
        "first_touch_campaign": touch.campaign,
        **touch_last_fields(touch, at=at),
        **touch.utm,
        "cta": touch.cta,
        "landing_page": touch.landing_page,
    }


def touch_last_fields(touch: Touch, *, at) -> dict:
    return {
        "last_touch_channel": touch.channel,
        "last_touch_campaign": touch.campaign,
        "last_touch_at": at,
    }
