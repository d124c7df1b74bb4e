"""Browser pages of reports, under /reports/ (namespace "reports"): the reports dashboard and its
CSV exports. Protect each view with `funnelcrm.navigation.page_access("reports")`."""

app_name = "reports"

urlpatterns = []
