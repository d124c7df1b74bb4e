"""The pipeline board: /leads/board/ (a column per open stage, filters), a column's next cards
("load more") and a card's move (drag and drop, or the card's menu). Moves go through the
lifecycle service; its refusals and version conflicts are answered with the card as it is now,
the columns' counts and totals, and the service's own message."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from campaigns.models import Channel
from funnelcrm.navigation import page_access

from .board import (
    board_card,
    board_column_page,
    board_columns,
    board_filter,
    board_filter_choices,
    board_totals,
)
from .exceptions import LeadVersionConflict, LifecycleRuleError
from .models import Lead
from .selectors import lead_scope
from .stages import EXIT_STAGES, FUNNEL, OPEN_STAGES, Stage
from .views_lead import lead_move_apply

# Query-string keys that are the board's own, not filters.
_NOT_FILTERS = ("cursor",)


def _filter_query(request) -> str:
    params = request.GET.copy()
    for key in _NOT_FILTERS:
        params.pop(key, None)
    return params.urlencode()


@page_access("board")
@require_GET
def board(request):
    filterset = board_filter(user=request.user, params=request.GET)
    columns = board_columns(filterset=filterset)
    data = filterset.form.cleaned_data if filterset.form.is_valid() else {}
    owners, campaigns = board_filter_choices(user=request.user)
    context = {
        "filterset": filterset,
        "form": filterset.form,
        "columns": columns,
        "query": _filter_query(request),
        "owners": owners,
        "campaigns": campaigns,
        "channels": Channel.choices,
        "selected": {
            "owner": request.GET.get("owner", ""),
            "campaign": request.GET.get("campaign", ""),
            "channel": request.GET.get("channel", ""),
        },
        "filtered": any(v not in (None, "", []) for v in data.values()),
        "total_count": sum(c.count for c in columns),
        "move_targets": [*FUNNEL, *EXIT_STAGES],
        "exits": EXIT_STAGES,
        "can_move_backward": request.user.has_perm("leads.move_lead_backward"),
    }
    return render(request, "leads/board.html", context)


@page_access("board")
@require_GET
def board_column(request, stage: str):
    """GET /leads/board/<stage>/more/?cursor=...: the column's next cards and its next button."""
    if stage not in OPEN_STAGES:
        raise Http404("No such column.")
    filterset = board_filter(user=request.user, params=request.GET)
    column = board_column_page(
        filterset=filterset, stage=stage, cursor=request.GET.get("cursor", "")
    )
    context = {"column": column, "query": _filter_query(request)}
    return render(request, "leads/_column_cards.html", context)


@page_access("board")
@require_POST
def board_move(request, pk: int):
    """POST /leads/board/<id>/move/ (to_stage, version, reason, note): move a card.

    Answers with the card as it is after the attempt (its stage says which column it belongs in,
    or none once it has left the board), the column headers for the board's filters (the query
    string), and a message: 200 moved, 400 a lifecycle rule refused it (the rule named),
    409 someone else changed the lead first, 403 the user may not change it."""
    lead = Lead.objects.filter(lead_scope(request.user), pk=pk).first()
    if lead is None:
        raise Http404("No such lead.")
    to_stage = request.POST.get("to_stage", "")
    status, rule = 200, ""
    try:
        version = int(request.POST["version"])
    except (KeyError, ValueError):
        version = None
    if version is None:
        status, level = 400, "error"
        message = "The card did not say which version of the lead it shows. Reload the board."
    else:
        try:
            lead_move_apply(
                lead=lead, actor=request.user, to_stage=to_stage, version=version,
                reason=request.POST.get("reason", ""), note=request.POST.get("note", ""),
            )
        except LeadVersionConflict:
            status, level = 409, "warning"
            message = (
                f"{lead} was changed by someone else while you had the board open, so it was not "
                "moved. Its card now shows the lead as it is; check it and try again."
            )
        except LifecycleRuleError as exc:
            status, level, rule, message = 400, "error", exc.rule, exc.message
        except PermissionDenied as exc:
            status, level, message = 403, "error", str(exc) or "You may not change this lead."
        else:
            level = "success"
            message = f"{lead} moved to {Stage(to_stage).label}."
    card = board_card(user=request.user, lead_id=pk)
    totals = board_totals(filterset=board_filter(user=request.user, params=request.GET))
    context = {
        "card": card, "on_board": card is not None and card.stage in OPEN_STAGES,
        "columns": totals, "message": message, "level": level, "rule": rule,
        "query": _filter_query(request),
    }
    response = render(request, "leads/_move_result.html", context, status=status)
    response["X-Board-Move"] = "1"  # board.js swaps this answer in even on a 4xx
    return response
