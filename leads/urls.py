"""Browser pages of leads, under /leads/ (namespace "leads"): the pipeline board ("leads:board" at
/leads/board/, which `/` sends users to once it exists), the lead list and the lead page.
Protect each view with `funnelcrm.navigation.page_access("board")` or `("leads")`."""

app_name = "leads"

urlpatterns = []
