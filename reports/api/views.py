"""Report endpoints: thin views over `reports.kpis`. A rep's numbers count their own leads only
(`leads.selectors.lead_scope`); a manager's count every lead."""

from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from leads.selectors import lead_scope

from ..kpis import funnel_compute, kpis_compute
from ..models import KPISnapshot
from .serializers import (
    FunnelSerializer,
    KpiQuerySerializer,
    KpiSummarySerializer,
    ReportQuerySerializer,
    SnapshotQuerySerializer,
    SnapshotSerializer,
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


class SnapshotListApi(ListAPIView):
    """KPI snapshot rows whose period starts within [start, end]. Snapshots count every lead: a
    user who may not see every lead (a rep) reads only the rows of their own owner slice."""

    serializer_class = SnapshotSerializer
    permission_classes = [IsAuthenticated]
    filter_backends: list = []

    @extend_schema(parameters=[SnapshotQuerySerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = SnapshotQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        rows = KPISnapshot.objects.filter(
            metric=data["metric"], grain=data["grain"], dimension=data["dimension"],
            period_start__gte=data["start"], period_start__lte=data["end"],
        )
        for name in ("channel", "campaign", "owner"):
            value = data.get(name)
            if value is not None:
                rows = rows.filter(dimension_value=str(getattr(value, "pk", value)))
        user = self.request.user
        if not user.has_perm("leads.view_all_leads"):
            rows = rows.filter(dimension="owner", dimension_value=str(user.pk))
        return rows.order_by("period_start", "dimension_value")
