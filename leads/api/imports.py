"""`POST /api/v1/imports/leads/`: upload a CSV of leads (multipart, field `file`) and get the
report that `manage.py import_leads` prints, from the same service (`leads_import`). The import
runs within the request, so files are limited to API_IMPORT_MAX_BYTES (5 MB by default, about
25,000 rows); larger files go through the command."""

import io

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from ..imports import FORMATS, ImportFileError, leads_import
from .common import BAD_REQUEST, FORBIDDEN, RolePermission

DEFAULT_MAX_BYTES = 5 * 1024 * 1024


def import_max_bytes() -> int:
    return getattr(settings, "API_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES)


def csv_text(upload) -> str:
    """The upload as text: UTF-8, with or without Excel's byte-order mark. Errors name `file`."""
    limit = import_max_bytes()
    if upload.size > limit:
        raise serializers.ValidationError({"file": [
            f"The file is {upload.size:,} bytes; the API takes files up to {limit:,} bytes. "
            "Split it, or import it with the management command. Nothing was imported."
        ]})
    raw = upload.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise serializers.ValidationError({"file": [
            f"Not UTF-8 text ({exc.reason} at byte {exc.start}). Save the file as UTF-8 CSV and "
            "try again. Nothing was imported."
        ]})


class LeadImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The CSV file, UTF-8.")
    format = serializers.ChoiceField(
        choices=sorted(FORMATS),
        help_text="hubspot: a HubSpot contacts export; csv: FunnelCRM's own columns (README).",
    )


class RejectedRowSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="The line in the file; the header is line 1.")
    reason = serializers.CharField()


class LeadImportReportSerializer(serializers.Serializer):
    format = serializers.CharField()
    rows = serializers.IntegerField(help_text="Data rows read.")
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    skipped = serializers.IntegerField()
    rejected = RejectedRowSerializer(many=True)
    summary = serializers.CharField(help_text="The counts as the command prints them.")
    seconds = serializers.FloatField()


def lead_import_report(report) -> dict:
    return {
        "format": report.format, "rows": report.rows, "created": report.created,
        "updated": report.updated, "unchanged": report.unchanged, "skipped": report.skipped,
        "rejected": [{"line": line, "reason": reason} for line, reason in report.rejected],
        "summary": report.summary, "seconds": round(report.seconds, 3),
    }


class LeadImportApi(APIView):
    """Marketers, managers and admins: an import can touch any lead (matched by Record ID or
    email), so it needs the right to see every lead as well as to create and change them."""

    parser_classes = [MultiPartParser]
    permission_classes = [RolePermission]
    required_perms = {"POST": ["leads.add_lead", "leads.change_lead", "leads.view_all_leads"]}

    @extend_schema(
        summary="Import leads from a CSV file",
        description=(
            "Runs the import of `manage.py import_leads` and answers its report: the counts and "
            "every rejected row with its line and reason (the other rows are imported; a row is "
            "never half-applied). Re-importing a file changes nothing. A header that cannot be "
            "imported, a file that is not UTF-8, or one over the size limit (API_IMPORT_MAX_BYTES, "
            "5 MB by default) answers 400 under `file` and imports nothing."
        ),
        request={"multipart/form-data": LeadImportRequestSerializer},
        responses={
            200: OpenApiResponse(LeadImportReportSerializer, description="The import's report."),
            400: BAD_REQUEST, 403: FORBIDDEN,
        },
        tags=["imports"],
    )
    def post(self, request):
        body = LeadImportRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        text = csv_text(body.validated_data["file"])
        try:
            report = leads_import(
                file=io.StringIO(text, newline=""), format=body.validated_data["format"],
                actor=request.user,
            )
        except ImportFileError as exc:
            raise serializers.ValidationError({"file": [f"{exc} Nothing was imported."]})
        return Response(lead_import_report(report))
