"""Browser pages of leads, under /leads/ (namespace "leads"): the pipeline board ("leads:board" at
/leads/board/, which `/` sends users to once it exists), the lead list and the lead page.
Protect each view with `funnelcrm.navigation.page_access("board")` or `("leads")`.

Two modules fill it, so that the board and lead page, and the list, can be built side by side:
`leads.urls_board` (board, lead page, moves, activities) and `leads.urls_list` (list, saved views,
CSV export). Their names land in this namespace ("leads:board", "leads:list", ...)."""

from django.urls import include, path

app_name = "leads"

urlpatterns = [
    path("", include("leads.urls_list")),
    path("", include("leads.urls_board")),
]
