"""Browser pages of reports, under /reports/ (namespace "reports"): the reports dashboard and its
CSV exports. Protect each view with `funnelcrm.navigation.page_access("reports")`."""

from django.urls import path

from . import views_pages

app_name = "reports"

urlpatterns = [
    path("", views_pages.dashboard, name="dashboard"),
    path("export/<slug:table>.csv", views_pages.export, name="export"),
]
