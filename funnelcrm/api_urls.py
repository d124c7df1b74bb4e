from django.urls import include, path
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.routers import DefaultRouter
from rest_framework.throttling import ScopedRateThrottle

from campaigns.api.views import IntakeApi
from leads.api.scoring import RescoreRunViewSet
from leads.api.views import LeadViewSet
from reports.api.views import FunnelApi, KpiSummaryApi, SnapshotListApi


class TokenObtainView(ObtainAuthToken):
    """POST {"username", "password"} -> {"token"}. DRF turns throttling off on this view; guessing
    passwords is limited here by the "auth" rate."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"


router = DefaultRouter()
router.register("leads", LeadViewSet, basename="lead")
router.register("scoring/rescores", RescoreRunViewSet, basename="rescore")

urlpatterns = [
    path("auth/token/", TokenObtainView.as_view(), name="api-token"),
    path("intake/", IntakeApi.as_view(), name="intake"),
    path("reports/funnel/", FunnelApi.as_view(), name="report-funnel"),
    path("reports/kpis/", KpiSummaryApi.as_view(), name="report-kpis"),
    path("kpis/", SnapshotListApi.as_view(), name="kpi-snapshots"),
    path("", include(router.urls)),
]
