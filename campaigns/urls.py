"""Browser pages of campaigns, under /campaigns/ (namespace "campaigns"): the campaign list and a
campaign's page. Protect each view with `funnelcrm.navigation.page_access("campaigns")`."""

app_name = "campaigns"

urlpatterns = []
