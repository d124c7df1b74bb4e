"""Report endpoints: thin views over `reports.kpis`. A rep's numbers count their own leads only
(`leads.selectors.lead_scope`); a manager's count every lead."""

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from leads.selectors import lead_scope

from ..kpis import funnel_compute, kpis_compute
from .serializers import (
    FunnelSerializer,
    KpiQuerySerializer,
    KpiSummarySerializer,
    ReportQuerySerializer,
)


class FunnelApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[ReportQuerySerializer], responses=FunnelSerializer)
    def get(self, request):
        query = ReportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        period, cut = query.period(), query.cut()
        mode = query.validated_data["mode"]
        funnel = funnel_compute(period=period, cut=cut, scope=lead_scope(request.user), mode=mode)
        return Response({
            "mode": mode, "start": period.start, "end": period.end, "channel": cut.channel,
            "campaign": cut.campaign, "owner": cut.owner, "attribution": cut.attribution,
            **funnel,
        })


class KpiSummaryApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[KpiQuerySerializer], responses=KpiSummarySerializer)
    def get(self, request):
        query = KpiQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        period, cut = query.period(), query.cut()
        mode = query.validated_data["mode"]
        scope = lead_scope(request.user)
        body = {
            "start": period.start, "end": period.end, "mode": mode,
            "kpis": kpis_compute(period=period, cut=cut, scope=scope, mode=mode),
        }
        if query.validated_data.get("compare") == "previous":
            previous = period.previous()
            body["previous"] = {
                "start": previous.start.isoformat(), "end": previous.end.isoformat(),
                "kpis": kpis_compute(period=previous, cut=cut, scope=scope, mode=mode),
            }
        return Response(body)
