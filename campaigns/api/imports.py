"""`POST /api/v1/imports/daily-metrics/`: upload a CSV of daily metrics (multipart, field `file`)
and get the report that `manage.py import_metrics` prints, from the same service
(`daily_metrics_import`). Within the request, so limited to API_IMPORT_MAX_BYTES (5 MB)."""

import io

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from leads.api.common import BAD_REQUEST, FORBIDDEN, RolePermission
from leads.api.imports import RejectedRowSerializer, csv_text

from ..imports import MetricsFileError, daily_metrics_import


class MetricsImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="The CSV file, UTF-8: date (YYYY-MM-DD), channel, optional campaign (its "
        "utm_campaign) and any daily metric as further columns.",
    )


class RepeatedRowSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    earlier_line = serializers.IntegerField(
        help_text="The earlier line with the same date, channel and campaign; the later row's "
        "figures are the ones kept.",
    )


class MetricsImportReportSerializer(serializers.Serializer):
    rows = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    rejected = RejectedRowSerializer(many=True)
    repeated = RepeatedRowSerializer(many=True)
    summary = serializers.CharField(help_text="The counts as the command prints them.")


class MetricsImportApi(APIView):
    parser_classes = [MultiPartParser]
    permission_classes = [RolePermission]
    required_perms = {"POST": ["campaigns.change_dailymetric"]}

    @extend_schema(
        summary="Import daily metrics from a CSV file",
        description=(
            "Runs the import of `manage.py import_metrics` and answers its report: each row "
            "replaces its day's figures, a bad row is rejected with its line and reason and the "
            "others are imported. A bad header, a file that is not UTF-8, or one over the size "
            "limit (API_IMPORT_MAX_BYTES, 5 MB by default) answers 400 under `file` and imports "
            "nothing."
        ),
        request={"multipart/form-data": MetricsImportRequestSerializer},
        responses={
            200: OpenApiResponse(MetricsImportReportSerializer, description="The report."),
            400: BAD_REQUEST, 403: FORBIDDEN,
        },
        tags=["imports"],
    )
    def post(self, request):
        body = MetricsImportRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        text = csv_text(body.validated_data["file"])
        try:
            report = daily_metrics_import(file=io.StringIO(text, newline=""), actor=request.user)
        except MetricsFileError as exc:
            raise serializers.ValidationError(
                {"file": [f"{' '.join(exc.messages)} Nothing was imported."]}
            )
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc))
        return Response({
            "rows": report.rows, "created": report.created, "updated": report.updated,
            "unchanged": report.unchanged,
            "rejected": [{"line": line, "reason": reason} for line, reason in report.rejected],
            "repeated": [{"line": line, "earlier_line": earlier}
                         for line, earlier in report.repeated],
            "summary": f"created {report.created}, updated {report.updated}, "
            f"unchanged {report.unchanged}, rejected {len(report.rejected)}",
        })
