from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from ..scoring.models import RescoreRun
from ..scoring.services import rescore_run_latest, rescore_run_request


class CanSeeRescores(BasePermission):
    """Admins (who configure scoring) see and start rescores."""

    def has_permission(self, request, view):
        user = request.user
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return user.has_perm("leads.view_rescorerun")
        return user.has_perm("leads.change_scoringrule")


class RescoreRunSerializer(serializers.ModelSerializer):
    percent = serializers.FloatField(read_only=True)

    class Meta:
        model = RescoreRun
        fields = ["id", "status", "reason", "total", "done", "percent", "promoted", "error",
                  "requested_at", "started_at", "finished_at"]
        read_only_fields = fields


class RescoreRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Background rescores of every lead, with their progress (done of total)."""

    queryset = RescoreRun.objects.order_by("-requested_at", "-id")
    serializer_class = RescoreRunSerializer
    permission_classes = [CanSeeRescores]
    filterset_fields = ["status"]

    @extend_schema(responses={200: RescoreRunSerializer, 404: None})
    @action(detail=False, methods=["get"])
    def latest(self, request):
        run = rescore_run_latest()
        if run is None:
            return Response({"detail": "No rescore has run yet."}, status=status.HTTP_404_NOT_FOUND)
        return Response(RescoreRunSerializer(run).data)

    @extend_schema(request=None, responses={202: RescoreRunSerializer})
    def create(self, request):
        """Queue a rescore of every lead (one already queued covers this request)."""
        run = rescore_run_request(reason=f"requested through the API by {request.user}")
        return Response(RescoreRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
