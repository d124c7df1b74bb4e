"""Campaigns: `/api/v1/campaigns/`. Every role reads them; marketers, managers and admins create
and change them through `campaign_create` and `campaign_update`."""

import django_filters
from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from leads.api.common import (
    BAD_REQUEST,
    FORBIDDEN,
    ID_REGEX,
    NOT_FOUND,
    RolePermission,
    id_filter,
    service_call,
)

from ..models import Campaign, CampaignStatus, Channel
from ..services import CAMPAIGN_EDITABLE_FIELDS, campaign_create, campaign_update


class CampaignSerializer(serializers.ModelSerializer):
    owner_username = serializers.CharField(
        source="owner.username", read_only=True, default=None, allow_null=True
    )
    # Not `format: uri`: a campaign without a landing page has "" here.
    landing_page_url = serializers.CharField(
        read_only=True, help_text="The landing page's URL, or empty when none is set."
    )

    class Meta:
        model = Campaign
        fields = ["id", *CAMPAIGN_EDITABLE_FIELDS, "owner_username", "form_key", "created_at",
                  "updated_at"]
        read_only_fields = fields


class CampaignWriteSerializer(serializers.ModelSerializer):
    """On create, `owner` defaults to you. `utm_campaign` is stored lower-case and is unique
    ignoring case."""

    owner = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_active=True), required=False,
        allow_null=True, help_text="A user id; on create, you if left out.",
    )

    class Meta:
        model = Campaign
        fields = list(CAMPAIGN_EDITABLE_FIELDS)
        extra_kwargs = {
            # Unique ignoring case: the service checks it and names the field.
            "utm_campaign": {"validators": []},
            # The database's check would answer without naming the field.
            "budget": {"min_value": 0},
        }


class CampaignFilter(django_filters.FilterSet):
    channel = django_filters.MultipleChoiceFilter(choices=Channel.choices, label="Channel")
    status = django_filters.MultipleChoiceFilter(choices=CampaignStatus.choices, label="Status")
    owner = id_filter("owner_id", "Owner (user id)")
    name = django_filters.CharFilter(lookup_expr="icontains", label="Name contains")
    utm_campaign = django_filters.CharFilter(lookup_expr="iexact", label="UTM campaign")
    active_on = django_filters.DateFilter(method="running_on", label="Running on this day")

    class Meta:
        model = Campaign
        fields = ["channel", "status", "owner", "name", "utm_campaign", "active_on"]

    def running_on(self, queryset, name, value):
        return queryset.exclude(starts_on__gt=value).exclude(ends_on__lt=value)


CAMPAIGN_READ = ["campaigns.view_campaign"]


@extend_schema_view(
    list=extend_schema(summary="Campaigns",
                       responses={200: CampaignSerializer(many=True), 403: FORBIDDEN}),
    retrieve=extend_schema(summary="A campaign",
                           responses={200: CampaignSerializer, 403: FORBIDDEN, 404: NOT_FOUND}),
    create=extend_schema(
        summary="Create a campaign (marketers)", request=CampaignWriteSerializer,
        responses={201: CampaignSerializer, 400: BAD_REQUEST, 403: FORBIDDEN},
    ),
    update=extend_schema(
        summary="Change a campaign (marketers)", request=CampaignWriteSerializer,
        responses={200: CampaignSerializer, 400: BAD_REQUEST, 403: FORBIDDEN, 404: NOT_FOUND},
    ),
    partial_update=extend_schema(
        summary="Change some of a campaign's fields (marketers)", request=CampaignWriteSerializer,
        responses={200: CampaignSerializer, 400: BAD_REQUEST, 403: FORBIDDEN, 404: NOT_FOUND},
    ),
)
class CampaignViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Campaign.objects.select_related("owner").order_by("name", "id")
    serializer_class = CampaignSerializer
    filterset_class = CampaignFilter
    lookup_value_regex = ID_REGEX
    permission_classes = [RolePermission]
    required_perms = {
        "list": CAMPAIGN_READ,
        "retrieve": CAMPAIGN_READ,
        "create": ["campaigns.add_campaign"],
        "update": ["campaigns.change_campaign"],
        "partial_update": ["campaigns.change_campaign"],
    }

    def create(self, request, *args, **kwargs):
        body = CampaignWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        campaign = service_call(campaign_create, actor=request.user, **body.validated_data)
        return Response(CampaignSerializer(campaign).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        campaign = self.get_object()
        body = CampaignWriteSerializer(
            campaign, data=request.data, partial=kwargs.get("partial", False)
        )
        body.is_valid(raise_exception=True)
        campaign = service_call(
            campaign_update, campaign=campaign, actor=request.user,
            data=dict(body.validated_data),
        )
        return Response(CampaignSerializer(campaign).data)
