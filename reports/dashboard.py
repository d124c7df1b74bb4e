"""The reports dashboard's numbers: its query (period presets, cut, mode, attribution) parsed by
the report API's own serializer, and each section computed by `reports.kpis` and
`reports.breakdowns` on first use, so that a CSV export computes only its table.

A reader who may see only their own leads (a rep) gets the API's scope (`lead_scope`) and an
owner cut fixed to themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property

from django.contrib.auth import get_user_model
from django.utils import timezone

from campaigns.models import Campaign, Channel
from leads.selectors import lead_scope

from .api.serializers import KpiQuerySerializer
from .breakdowns import breakdown_compute, trends_compute
from .kpis import Cut, funnel_compute, kpis_compute, won_compute
from .periods import Period, month_end, month_start

PRESETS = {
    "this_month": "This month",
    "last_month": "Last month",
    "this_quarter": "This quarter",
    "last_quarter": "Last quarter",
    "last_30_days": "Last 30 days",
    "last_90_days": "Last 90 days",
    "year_to_date": "Year to date",
    "custom": "Custom dates",
}
DEFAULT_PRESET = "last_90_days"
PARAMETERS = ("period", "start", "end", "channel", "campaign", "cta", "owner", "mode",
              "attribution")
LABELS = {
    "period": "Period", "start": "Start", "end": "End", "channel": "Channel",
    "campaign": "Campaign", "cta": "Content/CTA", "owner": "Owner", "mode": "Funnel mode",
    "attribution": "Attribution", "non_field_errors": "Parameters",
}
MODE_LABELS = {"period": "Period (first entries in the period)",
               "cohort": "Cohort (leads created in the period)"}
ATTRIBUTION_LABELS = {"first": "First touch", "last": "Last touch"}


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def preset_period(preset: str, today: date) -> Period:
    """A preset's [start, end], both included, around `today` in TIME_ZONE. Calendar presets
    (month, quarter) cover the whole calendar period; rolling ones end today."""
    if preset == "this_month":
        return Period(month_start(today), month_end(today))
    if preset == "last_month":
        last = month_start(today) - timedelta(days=1)
        return Period(month_start(last), last)
    if preset == "this_quarter":
        start = _quarter_start(today)
        return Period(start, month_end(start.replace(month=start.month + 2)))
    if preset == "last_quarter":
        end = _quarter_start(today) - timedelta(days=1)
        return Period(_quarter_start(end), end)
    if preset == "last_30_days":
        return Period(today - timedelta(days=29), today)
    if preset == "last_90_days":
        return Period(today - timedelta(days=89), today)
    if preset == "year_to_date":
        return Period(date(today.year, 1, 1), today)
    raise ValueError(f"unknown preset {preset!r}")


def is_restricted(user) -> bool:
    """Whether the reader sees only their own leads (the API's scope is not everything)."""
    return bool(lead_scope(user))


@dataclass
class DashboardQuery:
    values: dict  # what the form shows, as given (strings)
    errors: list[tuple[str, str]]  # (parameter, message)
    period: Period | None = None
    cut: Cut | None = None
    mode: str = "period"

    @property
    def ok(self) -> bool:
        return not self.errors

    def api_params(self) -> dict:
        """The same numbers' report API query."""
        params = {"start": self.period.start.isoformat(), "end": self.period.end.isoformat(),
                  "mode": self.mode, "attribution": self.cut.attribution}
        for name in ("channel", "campaign", "cta", "owner"):
            if getattr(self.cut, name):
                params[name] = getattr(self.cut, name)
        return params


def dashboard_query(params, *, user, today: date | None = None) -> DashboardQuery:
    """Parse the dashboard's GET parameters. The period preset becomes start and end; then the
    report API's serializer validates everything, so that errors name the parameter as the API
    does. A restricted reader's owner is themselves, whatever was asked."""
    today = today or timezone.localdate()
    values = {name: (params.get(name) or "").strip() for name in PARAMETERS}
    values["period"] = values["period"] or DEFAULT_PRESET
    if is_restricted(user):
        values["owner"] = str(user.pk)
    errors = []
    data = {k: values[k] for k in ("start", "end", "channel", "campaign", "cta", "owner", "mode",
                                   "attribution") if values[k]}
    if values["period"] not in PRESETS:
        choices = ", ".join(PRESETS)
        errors.append(("period", f"“{values['period']}” is not a preset; choose one of {choices}."))
    elif values["period"] != "custom":
        preset = preset_period(values["period"], today)
        data["start"], data["end"] = preset.start.isoformat(), preset.end.isoformat()
        values["start"], values["end"] = data["start"], data["end"]
    query = KpiQuerySerializer(data=data)
    if not query.is_valid():
        for name, messages in query.errors.items():
            for message in messages if isinstance(messages, list) else [messages]:
                errors.append((name, str(message)))
    if errors:
        return DashboardQuery(values=values, errors=errors)
    return DashboardQuery(values=values, errors=[], period=query.period(), cut=query.cut(),
                          mode=query.validated_data["mode"])


def campaign_choices() -> dict[int, Campaign]:
    return {c.pk: c for c in Campaign.objects.only("id", "name", "channel").order_by("name")}


def owner_choices(user) -> list:
    """Who the owner picker offers: a restricted reader only themselves."""
    if is_restricted(user):
        return [user]
    users = get_user_model().objects.filter(is_active=True, groups__isnull=False)
    return list(users.distinct().order_by("first_name", "last_name", "username"))


class Dashboard:
    """Every section of the dashboard for one reader and query, each computed once, on use."""

    def __init__(self, *, user, query: DashboardQuery, today: date | None = None):
        self.user = user
        self.query = query
        self.period, self.cut, self.mode = query.period, query.cut, query.mode
        self.previous = self.period.previous()
        self.scope = lead_scope(user)
        self.today = today

    # --- what the pickers offer ----------------------------------------------------------------

    @cached_property
    def campaigns(self) -> dict[int, Campaign]:
        return campaign_choices()

    @cached_property
    def owners(self) -> list:
        return owner_choices(self.user)

    # --- numbers ------------------------------------------------------------------------------

    @cached_property
    def funnel(self) -> dict:
        """Exactly GET /api/v1/reports/funnel/'s counts and rates for this query."""
        return funnel_compute(period=self.period, cut=self.cut, scope=self.scope, mode=self.mode)

    @cached_property
    def kpis(self) -> dict:
        """GET /api/v1/reports/kpis/'s rows, by key."""
        rows = kpis_compute(period=self.period, cut=self.cut, scope=self.scope, mode=self.mode)
        return {row["key"]: row for row in rows}

    @cached_property
    def previous_kpis(self) -> dict:
        rows = kpis_compute(period=self.previous, cut=self.cut, scope=self.scope, mode=self.mode)
        return {row["key"]: row for row in rows}

    @cached_property
    def trends(self):
        return trends_compute(period=self.period, cut=self.cut, scope=self.scope, mode=self.mode,
                              user_id=self.user.pk, today=self.today)

    @cached_property
    def _won(self):
        # Every row of a breakdown narrows the leads: customers won over the reader's scope share
        # the sales cost (`kpis.won_compute`). Counted once for all three tables.
        return won_compute(periods=(self.period, self.previous), scope=self.scope)

    def _breakdown(self, dimension: str):
        return breakdown_compute(period=self.period, cut=self.cut, scope=self.scope,
                                 dimension=dimension, mode=self.mode, won=self._won)

    @cached_property
    def by_channel(self):
        return self._breakdown("channel")

    @cached_property
    def by_campaign(self):
        return self._breakdown("campaign")

    @cached_property
    def by_cta(self):
        return self._breakdown("cta")

    # --- labels -------------------------------------------------------------------------------

    def row_label(self, dimension: str, key) -> str:
        if dimension == "channel":
            return Channel(key).label if key in Channel.values else str(key)
        if dimension == "campaign":
            if key is None:
                return "No campaign"
            campaign = self.campaigns.get(key)
            return campaign.name if campaign else f"Campaign {key}"
        return key if key else "No content/CTA"

    def cut_description(self) -> str:
        parts = []
        if self.cut.channel:
            parts.append(Channel(self.cut.channel).label)
        if self.cut.campaign:
            parts.append(self.row_label("campaign", self.cut.campaign))
        if self.cut.cta:
            parts.append(f"CTA “{self.cut.cta}”")
        if self.cut.owner:
            owner = next((u for u in self.owners if u.pk == self.cut.owner), None)
            name = (owner.get_full_name() or owner.get_username()) if owner else self.cut.owner
            parts.append(f"owner {name}")
        return ", ".join(parts) or "all leads"

    @property
    def figures_hidden(self) -> bool:
        """Marketing figures are company-wide: not read for a CTA or owner cut, nor for a reader
        who sees only their own leads (as `kpis.measures_compute` reads them)."""
        return bool(self.cut.cta or self.cut.owner or self.scope)

