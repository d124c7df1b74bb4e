"""Admin settings pages, under /settings/ (namespace "settings"): scoring rules, thresholds and
rescore progress at /settings/scoring/. Protect each view with
`funnelcrm.navigation.page_access("scoring")` (admins)."""

from django.urls import path

from . import views_settings as views

app_name = "settings"

urlpatterns = [
    path("scoring/", views.scoring_page, name="scoring"),
    path("scoring/thresholds/", views.scoring_thresholds, name="scoring-thresholds"),
    path("scoring/rules/new/", views.scoring_rule_edit, name="scoring-rule-new"),
    path("scoring/rules/<int:pk>/", views.scoring_rule_edit, name="scoring-rule-edit"),
    path("scoring/rules/<int:pk>/toggle/", views.scoring_rule_toggle, name="scoring-rule-toggle"),
    path("scoring/rescore/", views.scoring_rescore, name="scoring-rescore"),
]
