"""Activities (calls, meetings, replies, email and web engagement) of the leads the caller may see.

`GET /api/v1/activities/` lists them across those leads; `GET|POST /api/v1/leads/{id}/activities/`
reads and logs one lead's. Logging goes through `activity_create`, as the lead page does, so the
lead is rescored the same way. Another rep's lead is a 404 on every route."""

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from ..models import Activity, ActivityType, Lead
from ..selectors import lead_scope
from ..services import activity_create
from .common import (
    BAD_REQUEST,
    FORBIDDEN,
    NOT_FOUND,
    InstantFilter,
    RolePermission,
    id_filter,
    service_call,
)


class ActivitySerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField(help_text="Who logged it: a username or a system.")
    payload = serializers.JSONField(read_only=True, help_text="Details, e.g. {\"note\": \"...\"}.")

    class Meta:
        model = Activity
        fields = ["id", "lead", "type", "at", "actor", "payload", "created_at"]
        read_only_fields = fields

    def get_actor(self, activity) -> str:
        if activity.actor_user_id:
            return activity.actor_user.get_username()
        return activity.get_actor_system_display()


class ActivityCreateSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ActivityType.choices)
    at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="When it happened; now if left out. Not later "
        "than now.",
    )
    note = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=2000,
        help_text="What was said or agreed.",
    )


class ActivityFilter(django_filters.FilterSet):
    lead = id_filter("lead_id", "Lead id")
    type = django_filters.MultipleChoiceFilter(choices=ActivityType.choices, label="Type")
    at_after = InstantFilter(
        field_name="at", lookup_expr="gte", label="At or after (ISO 8601)"
    )
    at_before = InstantFilter(
        field_name="at", lookup_expr="lt", label="Before (ISO 8601)"
    )

    class Meta:
        model = Activity
        fields = ["lead", "type", "at_after", "at_before"]


def activity_list(*, user):
    """The activities of the leads the user may see, newest first."""
    return (
        Activity.objects.filter(lead__in=Lead.objects.filter(lead_scope(user)).values("pk"))
        .select_related("actor_user")
        .order_by("-at", "-id")
    )


@extend_schema_view(
    get=extend_schema(
        summary="Activities of the leads you may see", tags=["activities"],
        responses={200: ActivitySerializer(many=True), 403: FORBIDDEN},
    ),
)
class ActivityListApi(generics.ListAPIView):
    serializer_class = ActivitySerializer
    filterset_class = ActivityFilter
    permission_classes = [RolePermission]
    required_perms = {"GET": ["leads.view_activity"], "POST": ["leads.add_activity"]}

    def get_queryset(self):
        return activity_list(user=self.request.user)


LEAD_ID = OpenApiParameter("lead_id", OpenApiTypes.INT, OpenApiParameter.PATH)


@extend_schema_view(
    get=extend_schema(
        summary="A lead's activities", tags=["activities"], parameters=[LEAD_ID],
        responses={200: ActivitySerializer(many=True), 403: FORBIDDEN, 404: NOT_FOUND},
    ),
    post=extend_schema(
        summary="Log an activity on a lead", tags=["activities"], parameters=[LEAD_ID],
        request=ActivityCreateSerializer,
        responses={201: ActivitySerializer, 400: BAD_REQUEST, 403: FORBIDDEN, 404: NOT_FOUND},
    ),
)
class LeadActivityApi(generics.ListCreateAPIView):
    serializer_class = ActivitySerializer
    filterset_class = ActivityFilter
    permission_classes = [RolePermission]
    required_perms = {"GET": ["leads.view_activity"], "POST": ["leads.add_activity"]}

    def lead(self) -> Lead:
        if not hasattr(self, "_lead"):
            visible = Lead.objects.filter(lead_scope(self.request.user))
            self._lead = get_object_or_404(visible, pk=self.kwargs["lead_id"])
        return self._lead

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema: no request, no lead
            return Activity.objects.none()
        return activity_list(user=self.request.user).filter(lead=self.lead())

    def create(self, request, *args, **kwargs):
        lead = self.lead()
        body = ActivityCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        activity = service_call(
            activity_create, lead=lead, type=data["type"], actor=request.user,
            at=data.get("at"), payload={"note": data["note"]} if data["note"] else None,
        )
        return Response(ActivitySerializer(activity).data, status=status.HTTP_201_CREATED)
