from django.urls import include, path, re_path
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.routers import DefaultRouter
from rest_framework.throttling import ScopedRateThrottle

from campaigns.api.campaigns import CampaignViewSet
from campaigns.api.imports import MetricsImportApi
from campaigns.api.metrics import DailyMetricViewSet
from campaigns.api.nurture import NurtureEnrolmentViewSet, NurtureWorkflowViewSet
from campaigns.api.views import IntakeApi
from funnelcrm.parsers import JSONParser
from leads.api.accounts import AccountViewSet
from leads.api.activities import ActivityListApi, LeadActivityApi
from leads.api.imports import LeadImportApi
from leads.api.scoring import RescoreRunViewSet, ScoringRuleViewSet, ScoringSettingsApi
from leads.api.views import LeadViewSet
from reports.api.views import FunnelApi, KpiSummaryApi, SnapshotListApi


class TokenObtainView(ObtainAuthToken):
    """POST {"username", "password"} -> {"token"}. DRF turns throttling off on this view; guessing
    passwords is limited here by the "auth" rate."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"
    # The API's parsers, not ObtainAuthToken's own: a JSON body nested too deeply is a 400.
    parser_classes = [JSONParser, FormParser, MultiPartParser]


router = DefaultRouter()
router.register("leads", LeadViewSet, basename="lead")
router.register("scoring/rescores", RescoreRunViewSet, basename="rescore")
router.register("scoring/rules", ScoringRuleViewSet, basename="scoring-rule")
router.register("accounts", AccountViewSet, basename="account")
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("daily-metrics", DailyMetricViewSet, basename="daily-metric")
router.register("nurture-workflows", NurtureWorkflowViewSet, basename="nurture-workflow")
router.register("nurture-enrolments", NurtureEnrolmentViewSet, basename="nurture-enrolment")

urlpatterns = [
    path("auth/token/", TokenObtainView.as_view(), name="api-token"),
    path("intake/", IntakeApi.as_view(), name="intake"),
    path("reports/funnel/", FunnelApi.as_view(), name="report-funnel"),
    path("reports/kpis/", KpiSummaryApi.as_view(), name="report-kpis"),
    path("kpis/", SnapshotListApi.as_view(), name="kpi-snapshots"),
    path("activities/", ActivityListApi.as_view(), name="activity-list"),
    re_path(
        r"^leads/(?P<lead_id>[0-9]{1,18})/activities/$", LeadActivityApi.as_view(),
        name="lead-activities",
    ),
    path("scoring/settings/", ScoringSettingsApi.as_view(), name="scoring-settings"),
    path("imports/leads/", LeadImportApi.as_view(), name="import-leads"),
    path("imports/daily-metrics/", MetricsImportApi.as_view(), name="import-daily-metrics"),
    path("", include(router.urls)),
]
