"""Which pages each role may use: the one place the header nav, the home page and page views ask.

The roles are the groups of `leads/roles.py`; the rules below test their permissions (not group
names), so a user given a permission by hand sees the page that goes with it.

| page | rule | who, with the default roles |
|---|---|---|
| Pipeline board `/leads/board/` | `leads.view_lead` | every role (a rep: their own leads) |
| Leads `/leads/` | `leads.view_lead` | every role (a rep: their own leads) |
| Campaigns `/campaigns/` | `campaigns.view_campaign` | every role (reps read only) |
| Reports `/reports/` | `leads.view_lead` | every role (a rep: the numbers of their own leads) |
| Scoring settings `/settings/scoring/` | `leads.change_scoringrule` | admins |
| Django admin `/admin/` | `is_staff` | staff users |

Reps get Reports because the report API already answers them with their own slice; what a page
shows inside is still scoped by `leads.selectors.lead_scope`. A page view enforces the same rule
with `@page_access("<key>")`, so a link is shown exactly when the page opens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from leads import roles


@dataclass(frozen=True)
class Page:
    key: str
    label: str
    url: str
    description: str
    allows: Callable[[object], bool]


def _perm(name: str) -> Callable[[object], bool]:
    return lambda user: user.has_perm(name)


PAGES = [
    Page("board", "Pipeline", "/leads/board/",
         "Drag leads from stage to stage.", _perm("leads.view_lead")),
    Page("leads", "Leads", "/leads/",
         "Filter, sort and export leads; saved views.", _perm("leads.view_lead")),
    Page("campaigns", "Campaigns", "/campaigns/",
         "Spend, leads, CPL and the funnel of each campaign.", _perm("campaigns.view_campaign")),
    Page("reports", "Reports", "/reports/",
         "Funnel, trends and KPI breakdowns.", _perm("leads.view_lead")),
    Page("scoring", "Scoring", "/settings/scoring/",
         "Scoring rules, thresholds and rescoring.", _perm("leads.change_scoringrule")),
    Page("admin", "Admin", "/admin/",
         "Users, roles and every record.", lambda user: user.is_staff),
]
PAGES_BY_KEY = {page.key: page for page in PAGES}

# The first of these groups a user belongs to names their role in the header.
ROLE_ORDER = [roles.ADMIN, roles.MANAGER, roles.MARKETER, roles.SALES_REP]


def page_allowed(user, key: str) -> bool:
    """May this user open the page `key` (a key of PAGES)?"""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return PAGES_BY_KEY[key].allows(user)


def pages_for(user) -> list[Page]:
    """The pages this user may open, in nav order."""
    return [page for page in PAGES if page_allowed(user, page.key)]


def role_label(user) -> str:
    """The user's role as the header shows it: their role group, "Admin" for a superuser without
    one, else "No role"."""
    names = set(user.groups.values_list("name", flat=True))
    for role in ROLE_ORDER:
        if role in names:
            return role
    return roles.ADMIN if user.is_superuser else "No role"


def active_key(path: str, pages: list[Page]) -> str | None:
    """The nav entry for a path: the page whose URL is its longest prefix (/leads/board/x is the
    board, /leads/7/ is Leads)."""
    matches = [page for page in pages if path.startswith(page.url)]
    return max(matches, key=lambda page: len(page.url)).key if matches else None


def page_access(key: str):
    """View decorator: sign-in required (redirect to the login page), then 403 unless
    `page_allowed(user, key)`. Use it on every page view so the nav and the door agree."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not page_allowed(request.user, key):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return login_required(wrapped)

    return decorator
