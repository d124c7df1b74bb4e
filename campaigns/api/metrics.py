"""Daily marketing metrics: `/api/v1/daily-metrics/`. Every role reads them; marketers and up
write them, one day at a time (`upsert/`, through `daily_metric_upsert`) or many
(`bulk-upsert/`, through `daily_metrics_bulk_upsert`). A day sent again replaces its figures
and a figure left out is unknown (null), as with the CSV import.

A bulk body is checked whole before anything is written: every bad row is reported with its
index and field, and then none is written."""

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from leads.api.common import (
    BAD_REQUEST,
    FORBIDDEN,
    RolePermission,
    id_filter,
    service_call,
    validation_detail,
)

from ..models import METRIC_FIELDS, Campaign, Channel, DailyMetric
from ..services import daily_metric_upsert, daily_metrics_bulk_upsert

BULK_MAX_ROWS = 5000
_COUNT_MAX = 9_223_372_036_854_775_807  # PositiveBigIntegerField's ceiling


class DailyMetricSerializer(serializers.ModelSerializer):
    class Meta:
        model = DailyMetric
        fields = ["id", "date", "channel", "campaign", *METRIC_FIELDS, "created_at", "updated_at"]
        read_only_fields = fields


class DailyMetricWriteSerializer(serializers.ModelSerializer):
    """One day of a channel (campaign null or left out) or of one of its campaigns. The model's
    own checks run too: a part never exceeds its whole (bounced sessions within sessions,
    opens within deliveries...), a campaign belongs to the row's channel."""

    campaign = serializers.PrimaryKeyRelatedField(
        queryset=Campaign.objects.all(), required=False, allow_null=True, default=None,
        help_text="A campaign id of this channel; null or left out for the channel's own row.",
    )

    class Meta:
        model = DailyMetric
        fields = ["date", "channel", "campaign", *METRIC_FIELDS]
        extra_kwargs = {
            # The upsert replaces the day's row: the key is not a uniqueness error here.
            "date": {"validators": []},
            **{name: {"max_value": _COUNT_MAX} for name in METRIC_FIELDS if name != "spend"},
            "spend": {"min_value": 0},
        }

    def get_unique_together_validators(self):
        return []

    def get_validators(self):
        return []

    def validate(self, attrs):
        metric = DailyMetric(**attrs)
        try:
            metric.full_clean(validate_unique=False, validate_constraints=False)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(validation_detail(exc))
        return attrs


class DailyMetricBulkSerializer(serializers.Serializer):
    rows = DailyMetricWriteSerializer(
        many=True, allow_empty=False, max_length=BULK_MAX_ROWS,
        help_text=f"At most {BULK_MAX_ROWS} rows. A day repeated in the body: the later row "
        "wins.",
    )


class RowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(
        allow_null=True, help_text="The row's index in `rows`, from 0; null for the body as a "
        "whole (not an object, no rows, too many rows).",
    )
    field = serializers.CharField(help_text="The field, or non_field_errors.")
    message = serializers.CharField()


class BulkErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = RowErrorSerializer(many=True)


class BulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()


class DailyMetricFilter(django_filters.FilterSet):
    date_after = django_filters.DateFilter(
        field_name="date", lookup_expr="gte", label="From this day (YYYY-MM-DD)"
    )
    date_before = django_filters.DateFilter(
        field_name="date", lookup_expr="lte", label="To this day, included"
    )
    channel = django_filters.MultipleChoiceFilter(choices=Channel.choices, label="Channel")
    campaign = id_filter("campaign_id", "Campaign id")
    channel_only = django_filters.BooleanFilter(
        field_name="campaign", lookup_expr="isnull",
        label="true: only channels' own rows; false: only campaigns' rows",
    )

    class Meta:
        model = DailyMetric
        fields = ["date_after", "date_before", "channel", "campaign", "channel_only"]


def _messages(value) -> list[str]:
    if isinstance(value, dict):
        return [m for v in value.values() for m in _messages(v)]
    if isinstance(value, list):
        return [m for v in value for m in _messages(v)]
    return [str(value)]


def _bulk_errors(errors: dict) -> list[dict]:
    """DRF's errors of the bulk body, flattened to one entry per row, field and message. DRF
    keys a list's errors by row index (a dict, or a list with empty entries for good rows)."""
    rows = errors.get("rows")
    if isinstance(rows, list) and all(isinstance(row, dict) for row in rows):
        rows = dict(enumerate(rows))
    if isinstance(rows, dict) and rows and all(
        isinstance(k, int) and isinstance(v, dict) for k, v in rows.items()
    ):
        return [
            {"row": index, "field": field, "message": message}
            for index, row in sorted(rows.items())
            for field, messages in (row or {}).items()
            for message in _messages(messages)
        ]
    # About the body as a whole: not an object, no rows, too many rows.
    return [
        {"row": None, "field": field, "message": message}
        for field, messages in errors.items()
        for message in _messages(messages)
    ]


WRITE = ["campaigns.change_dailymetric"]


@extend_schema_view(
    list=extend_schema(
        summary="Daily marketing metrics",
        responses={200: DailyMetricSerializer(many=True), 400: BAD_REQUEST, 403: FORBIDDEN},
    ),
)
class DailyMetricViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    queryset = DailyMetric.objects.order_by("-date", "channel", "campaign_id", "id")
    serializer_class = DailyMetricSerializer
    filterset_class = DailyMetricFilter
    permission_classes = [RolePermission]
    required_perms = {
        "list": ["campaigns.view_dailymetric"], "upsert": WRITE, "bulk_upsert": WRITE,
    }

    @extend_schema(
        summary="Set one day's figures (marketers)",
        description="Creates the day's row (201) or replaces its figures (200); a figure left "
        "out becomes unknown (null).",
        request=DailyMetricWriteSerializer,
        responses={
            200: DailyMetricSerializer, 201: DailyMetricSerializer, 400: BAD_REQUEST,
            403: FORBIDDEN,
        },
    )
    @action(detail=False, methods=["post"], url_path="upsert", filterset_class=None,
            pagination_class=None)
    def upsert(self, request):
        body = DailyMetricWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        metric, created = service_call(
            daily_metric_upsert, actor=request.user, date=data["date"], channel=data["channel"],
            campaign=data.get("campaign"),
            values={name: data[name] for name in METRIC_FIELDS if name in data},
        )
        return Response(
            DailyMetricSerializer(metric).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        summary="Set many days' figures at once (marketers)",
        description=f"Up to {BULK_MAX_ROWS} rows, all or nothing: when any row is invalid, "
        "the answer lists every error by row index and field and nothing is written.",
        request=DailyMetricBulkSerializer,
        responses={200: BulkResultSerializer, 400: BulkErrorSerializer, 403: FORBIDDEN},
    )
    @action(detail=False, methods=["post"], url_path="bulk-upsert", filterset_class=None,
            pagination_class=None)
    def bulk_upsert(self, request):
        body = DailyMetricBulkSerializer(data=request.data)
        if not body.is_valid():
            return Response(
                {"detail": "Nothing was written: fix these rows and send them again.",
                 "errors": _bulk_errors(body.errors)},
                status=status.HTTP_400_BAD_REQUEST,
            )
        rows = [
            (row["date"], row["channel"], row.get("campaign"),
             {name: row[name] for name in METRIC_FIELDS if name in row})
            for row in body.validated_data["rows"]
        ]
        created, updated = service_call(daily_metrics_bulk_upsert, actor=request.user, rows=rows)
        return Response({"created": created, "updated": updated})
