"""Report endpoints: thin views over `reports.kpis`. A rep's numbers count their own leads only
(`leads.selectors.lead_scope`); a manager's count every lead."""

from datetime import timedelta

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
        mode, as_of = query.validated_data["mode"], query.validated_data.get("as_of")
        funnel = funnel_compute(period=period, cut=cut, scope=lead_scope(request.user), mode=mode,
                                as_of=as_of)
        return Response({
            "mode": mode, "start": period.start, "end": period.end, "channel": cut.channel,
            "campaign": cut.campaign, "owner": cut.owner, "attribution": cut.attribution,
            **({"as_of": as_of} if as_of else {}),
            **funnel,
        })


class KpiSummaryApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[KpiQuerySerializer], responses=KpiSummarySerializer)
    def get(self, request):
        query = KpiQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        period, cut = query.period(), query.cut()
        mode, as_of = query.validated_data["mode"], query.validated_data.get("as_of")
        scope = lead_scope(request.user)
        body = {
            "start": period.start, "end": period.end, "mode": mode,
            **({"as_of": as_of} if as_of else {}),
            "kpis": kpis_compute(period=period, cut=cut, scope=scope, mode=mode, as_of=as_of),
        }
        if query.validated_data.get("compare") == "previous":
            previous = period.previous()
            # Seen as many days after its end as this period is: the cohorts had as long to move.
            previous_as_of = as_of and as_of - timedelta(days=period.days)
            body["previous"] = {
                "start": previous.start.isoformat(), "end": previous.end.isoformat(),
                **({"as_of": previous_as_of.isoformat()} if previous_as_of else {}),
                "kpis": kpis_compute(period=previous, cut=cut, scope=scope, mode=mode,
                                     as_of=previous_as_of),
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
