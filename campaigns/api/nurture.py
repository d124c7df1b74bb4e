"""Nurture workflows and their enrolments: `/api/v1/nurture-workflows/` and
`/api/v1/nurture-enrolments/`. Every role reads workflows; marketers and up create and change
them and enrol leads. Enrolments are listed only for the leads the caller may see."""

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from leads.api.common import (
    BAD_REQUEST,
    FORBIDDEN,
    ID_REGEX,
    NOT_FOUND,
    InstantFilter,
    RolePermission,
    id_filter,
    service_call,
)
from leads.models import Lead
from leads.selectors import lead_scope

from ..models import Campaign, NurtureEnrolment, NurtureWorkflow
from ..services import (
    NURTURE_WORKFLOW_EDITABLE_FIELDS,
    nurture_enrol,
    nurture_enrolment_close,
    nurture_workflow_create,
    nurture_workflow_update,
)


class NurtureWorkflowSerializer(serializers.ModelSerializer):
    class Meta:
        model = NurtureWorkflow
        fields = ["id", *NURTURE_WORKFLOW_EDITABLE_FIELDS, "created_at"]
        read_only_fields = fields


class NurtureWorkflowWriteSerializer(serializers.ModelSerializer):
    """`is_active` is set on update only: a new workflow is active."""

    campaign = serializers.PrimaryKeyRelatedField(
        queryset=Campaign.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = NurtureWorkflow
        fields = list(NURTURE_WORKFLOW_EDITABLE_FIELDS)
        # Unique: the service's model validation names the field.
        extra_kwargs = {"name": {"validators": []}}


class NurtureWorkflowFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains", label="Name contains")
    campaign = id_filter("campaign_id", "Campaign id")
    is_active = django_filters.BooleanFilter(label="Active")

    class Meta:
        model = NurtureWorkflow
        fields = ["name", "campaign", "is_active"]


@extend_schema_view(
    list=extend_schema(summary="Nurture workflows",
                       responses={200: NurtureWorkflowSerializer(many=True), 403: FORBIDDEN}),
    retrieve=extend_schema(
        summary="A nurture workflow",
        responses={200: NurtureWorkflowSerializer, 403: FORBIDDEN, 404: NOT_FOUND},
    ),
    create=extend_schema(
        summary="Create a nurture workflow (marketers)", request=NurtureWorkflowWriteSerializer,
        responses={201: NurtureWorkflowSerializer, 400: BAD_REQUEST, 403: FORBIDDEN},
    ),
    update=extend_schema(
        summary="Change a nurture workflow (marketers)", request=NurtureWorkflowWriteSerializer,
        responses={200: NurtureWorkflowSerializer, 400: BAD_REQUEST, 403: FORBIDDEN,
                   404: NOT_FOUND},
    ),
    partial_update=extend_schema(
        summary="Change some of a nurture workflow's fields (marketers)",
        request=NurtureWorkflowWriteSerializer,
        responses={200: NurtureWorkflowSerializer, 400: BAD_REQUEST, 403: FORBIDDEN,
                   404: NOT_FOUND},
    ),
)
class NurtureWorkflowViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    queryset = NurtureWorkflow.objects.order_by("name", "id")
    serializer_class = NurtureWorkflowSerializer
    filterset_class = NurtureWorkflowFilter
    lookup_value_regex = ID_REGEX
    permission_classes = [RolePermission]
    required_perms = {
        "list": ["campaigns.view_nurtureworkflow"],
        "retrieve": ["campaigns.view_nurtureworkflow"],
        "create": ["campaigns.add_nurtureworkflow"],
        "update": ["campaigns.change_nurtureworkflow"],
        "partial_update": ["campaigns.change_nurtureworkflow"],
    }

    def create(self, request, *args, **kwargs):
        body = NurtureWorkflowWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if "is_active" in data and not data["is_active"]:
            raise serializers.ValidationError({"is_active": "A new workflow is active."})
        workflow = service_call(
            nurture_workflow_create, actor=request.user, name=data["name"], goal=data["goal"],
            campaign=data.get("campaign"),
        )
        return Response(NurtureWorkflowSerializer(workflow).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        workflow = self.get_object()
        body = NurtureWorkflowWriteSerializer(
            workflow, data=request.data, partial=kwargs.get("partial", False)
        )
        body.is_valid(raise_exception=True)
        workflow = service_call(
            nurture_workflow_update, workflow=workflow, actor=request.user,
            data=dict(body.validated_data),
        )
        return Response(NurtureWorkflowSerializer(workflow).data)


# --- enrolments ---------------------------------------------------------------------------------


class NurtureEnrolmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = NurtureEnrolment
        fields = ["id", "workflow", "lead", "entered_at", "goal_reached_at", "exited_at"]
        read_only_fields = fields


class VisibleLeadField(serializers.PrimaryKeyRelatedField):
    """A lead id among those the caller may see; another's reads as not existing."""

    def get_queryset(self):
        return Lead.objects.filter(lead_scope(self.context["request"].user))


class NurtureEnrolSerializer(serializers.Serializer):
    workflow = serializers.PrimaryKeyRelatedField(queryset=NurtureWorkflow.objects.all())
    lead = VisibleLeadField(queryset=Lead.objects.all())
    entered_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="When the lead entered; now if left out."
    )


class NurtureCloseSerializer(serializers.Serializer):
    goal_reached_at = serializers.DateTimeField(required=False, allow_null=True)
    exited_at = serializers.DateTimeField(required=False, allow_null=True)

    def validate(self, attrs):
        if attrs.get("goal_reached_at") is None and attrs.get("exited_at") is None:
            raise serializers.ValidationError(
                {"goal_reached_at": "Give goal_reached_at, exited_at or both."}
            )
        return attrs


class NurtureEnrolmentFilter(django_filters.FilterSet):
    workflow = id_filter("workflow_id", "Workflow id")
    lead = id_filter("lead_id", "Lead id")
    goal_reached = django_filters.BooleanFilter(
        field_name="goal_reached_at", lookup_expr="isnull", exclude=True, label="Goal reached"
    )
    exited = django_filters.BooleanFilter(
        field_name="exited_at", lookup_expr="isnull", exclude=True, label="Exited"
    )
    entered_after = InstantFilter(
        field_name="entered_at", lookup_expr="gte", label="Entered at or after (ISO 8601)"
    )
    entered_before = InstantFilter(
        field_name="entered_at", lookup_expr="lt", label="Entered before (ISO 8601)"
    )

    class Meta:
        model = NurtureEnrolment
        fields = ["workflow", "lead", "goal_reached", "exited", "entered_after", "entered_before"]


@extend_schema_view(
    list=extend_schema(
        summary="Enrolments of the leads you may see",
        responses={200: NurtureEnrolmentSerializer(many=True), 403: FORBIDDEN},
    ),
    retrieve=extend_schema(
        summary="An enrolment",
        responses={200: NurtureEnrolmentSerializer, 403: FORBIDDEN, 404: NOT_FOUND},
    ),
    create=extend_schema(
        summary="Enrol a lead in a workflow (marketers)",
        description="Enrolling a lead again answers its existing enrolment (200).",
        request=NurtureEnrolSerializer,
        responses={200: NurtureEnrolmentSerializer, 201: NurtureEnrolmentSerializer,
                   400: BAD_REQUEST, 403: FORBIDDEN},
    ),
)
class NurtureEnrolmentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = NurtureEnrolmentSerializer
    filterset_class = NurtureEnrolmentFilter
    lookup_value_regex = ID_REGEX
    permission_classes = [RolePermission]
    required_perms = {
        "list": ["campaigns.view_nurtureenrolment"],
        "retrieve": ["campaigns.view_nurtureenrolment"],
        "create": ["campaigns.add_nurtureenrolment"],
        "close": ["campaigns.change_nurtureenrolment"],
    }

    def get_queryset(self):
        visible = Lead.objects.filter(lead_scope(self.request.user)).values("pk")
        return NurtureEnrolment.objects.filter(lead__in=visible).order_by("-entered_at", "-id")

    def create(self, request, *args, **kwargs):
        body = NurtureEnrolSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        data = body.validated_data
        existing = NurtureEnrolment.objects.filter(
            workflow=data["workflow"], lead=data["lead"]
        ).exists()
        enrolment = service_call(
            nurture_enrol, actor=request.user, workflow=data["workflow"], lead=data["lead"],
            at=data.get("entered_at"),
        )
        return Response(
            NurtureEnrolmentSerializer(enrolment).data,
            status=status.HTTP_200_OK if existing else status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="Record that an enrolled lead reached the goal and/or left (marketers)",
        description="Each time is written once; a second report does not move it.",
        request=NurtureCloseSerializer,
        responses={200: NurtureEnrolmentSerializer, 400: BAD_REQUEST, 403: FORBIDDEN,
                   404: NOT_FOUND},
    )
    @action(detail=True, methods=["post"], filterset_class=None, pagination_class=None)
    def close(self, request, pk=None):
        enrolment = get_object_or_404(self.get_queryset(), pk=pk)
        body = NurtureCloseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        enrolment = service_call(
            nurture_enrolment_close, actor=request.user, enrolment=enrolment,
            goal_reached_at=body.validated_data.get("goal_reached_at"),
            exited_at=body.validated_data.get("exited_at"),
        )
        return Response(NurtureEnrolmentSerializer(enrolment).data)
