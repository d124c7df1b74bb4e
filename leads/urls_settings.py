"""Admin settings pages, under /settings/ (namespace "settings"): scoring rules, thresholds and
rescore progress at /settings/scoring/. Protect each view with
`funnelcrm.navigation.page_access("scoring")` (admins)."""

app_name = "settings"

urlpatterns = []
