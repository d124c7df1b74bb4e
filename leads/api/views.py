from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from campaigns.attribution import UTM_FIELDS

from ..exceptions import LeadVersionConflict, LifecycleRuleError
from ..filters import LeadFilter
from ..selectors import lead_list, lead_transitions
from ..services import lead_create, lead_move_to_stage, lead_update
from .serializers import (
    ConflictErrorSerializer,
    LeadMoveSerializer,
    LeadSerializer,
    LeadWriteSerializer,
    LifecycleErrorSerializer,
    StageTransitionSerializer,
)


def _call_service(fn, **kwargs):
    """Run a service and turn its errors into API answers."""
    try:
        return fn(**kwargs)
    except DjangoValidationError as exc:
        raise ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    except DjangoPermissionDenied as exc:
        raise PermissionDenied(str(exc))


def _conflict(exc: LeadVersionConflict) -> Response:
    return Response(
        {"detail": str(exc), "current_version": exc.current_version},
        status=status.HTTP_409_CONFLICT,
    )


class LeadViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Leads the caller may see: a rep their own, a manager all."""

    filterset_class = LeadFilter
    serializer_class = LeadSerializer

    def get_queryset(self):
        return lead_list(user=self.request.user).order_by("-became_lead_at", "-id")

    @extend_schema(request=LeadWriteSerializer, responses={201: LeadSerializer})
    def create(self, request, *args, **kwargs):
        serializer = LeadWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("version", None)
        utm = {f: data.pop(f) for f in UTM_FIELDS if f in data}
        lead = _call_service(lead_create, actor=request.user, utm=utm, **data)
        return Response(LeadSerializer(lead).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=LeadWriteSerializer,
        responses={200: LeadSerializer, 409: ConflictErrorSerializer},
    )
    def update(self, request, *args, **kwargs):
        lead = self.get_object()
        partial = kwargs.get("partial", False)
        serializer = LeadWriteSerializer(lead, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        version = data.pop("version", None)
        # On an existing lead, channel and campaign correct its first touch.
        renames = (("channel", "first_touch_channel"), ("campaign", "first_touch_campaign"))
        for given, field in renames:
            if given in data:
                data[field] = data.pop(given)
        try:
            lead = _call_service(
                lead_update, lead=lead, actor=request.user, data=data, expected_version=version
            )
        except LeadVersionConflict as exc:
            return _conflict(exc)
        return Response(LeadSerializer(lead).data)

    @extend_schema(
        request=LeadMoveSerializer,
        responses={
            200: LeadSerializer,
            400: OpenApiResponse(LifecycleErrorSerializer, description="A rule forbids it."),
            409: OpenApiResponse(ConflictErrorSerializer, description="The lead changed."),
        },
    )
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        """Move the lead to another stage through the lifecycle service."""
        lead = self.get_object()
        serializer = LeadMoveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            lead = _call_service(
                lead_move_to_stage,
                lead=lead,
                to_stage=data["to_stage"],
                actor=request.user,
                note=data["note"],
                reason=data["reason"],
                expected_version=data.get("version"),
            )
        except LifecycleRuleError as exc:
            return Response(
                {"rule": exc.rule, "detail": exc.message}, status=status.HTTP_400_BAD_REQUEST
            )
        except LeadVersionConflict as exc:
            return _conflict(exc)
        return Response(LeadSerializer(lead).data)

    @extend_schema(responses={200: StageTransitionSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def transitions(self, request, pk=None):
        """The lead's stage history, newest first."""
        lead = self.get_object()
        return Response(StageTransitionSerializer(lead_transitions(lead=lead), many=True).data)
