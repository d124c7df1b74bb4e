from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.http import parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.reverse import reverse

from campaigns.attribution import UTM_FIELDS

from ..exceptions import LeadVersionConflict, LifecycleRuleError
from ..filters import LeadFilter
from ..selectors import lead_list, lead_transitions
from ..services import lead_assign_owner, lead_create, lead_move_to_stage, lead_update
from .serializers import (
    ConflictErrorSerializer,
    LeadAssignSerializer,
    LeadMoveSerializer,
    LeadSerializer,
    LeadWriteSerializer,
    LifecycleErrorSerializer,
    PreconditionRequiredSerializer,
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


def lead_etag(lead) -> str:
    """The lead's strong ETag: it changes whenever its version does."""
    return f'"lead-{lead.pk}-v{lead.version}"'


def _with_etag(lead, response: Response) -> Response:
    response["ETag"] = lead_etag(lead)
    return response


def _conflict(exc: LeadVersionConflict, *, status_code=status.HTTP_409_CONFLICT) -> Response:
    response = Response(
        {"detail": str(exc), "current_version": exc.current_version}, status=status_code
    )
    response["ETag"] = f'"lead-{exc.lead_id}-v{exc.current_version}"'
    return response


class Precondition:
    """What a write checks the lead's version against: the body's `version` (a stale one is a
    409, as it always was) and/or an `If-Match` header with the lead's ETag (a stale one is a
    412). `expected_version` goes to the service, which checks it again under the row lock."""

    def __init__(self, request, lead, body_version: int | None):
        self.body_version = body_version
        self.header = request.headers.get("If-Match")
        self.etags = parse_etags(self.header) if self.header is not None else []
        self.expected_version = body_version
        self.stale_status = status.HTTP_409_CONFLICT
        self.failed: Response | None = None
        if self.header is None:
            return
        etags, sent = self.etags, self.header[:200]
        if "*" not in etags and lead_etag(lead) not in etags:
            self.failed = _with_etag(lead, Response(
                {
                    "detail": f"The lead changed since you read it: If-Match {sent} does not "
                    f"match its ETag {lead_etag(lead)} (version {lead.version}). Read it again "
                    "and retry.",
                    "current_version": lead.version,
                },
                status=status.HTTP_412_PRECONDITION_FAILED,
            ))
        elif body_version is None and "*" not in etags:
            # The header named the version read above; a change before the lock is a 412 too.
            self.expected_version = lead.version
            self.stale_status = status.HTTP_412_PRECONDITION_FAILED

    @property
    def names_a_version(self) -> bool:
        """`If-Match: *` only says that the lead exists, not which version was read."""
        if self.body_version is not None:
            return True
        return self.header is not None and self.header.strip() != "*"


IF_MATCH = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER,
    description="The ETag of the lead as you read it (GET answers it). A stale one answers 412 "
    "and changes nothing.",
)
ETAG = OpenApiParameter(
    "ETag", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[200, 201],
    description="The lead's current ETag, for If-Match on the next write.",
)
PRECONDITION_FAILED = OpenApiResponse(
    ConflictErrorSerializer, description="If-Match does not match the lead's ETag."
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

    @extend_schema(parameters=[ETAG])
    def retrieve(self, request, *args, **kwargs):
        lead = self.get_object()
        return _with_etag(lead, Response(self.get_serializer(lead).data))

    @extend_schema(
        request=LeadWriteSerializer, responses={201: LeadSerializer},
        parameters=[
            ETAG,
            OpenApiParameter(
                "Location", OpenApiTypes.URI, OpenApiParameter.HEADER, response=[201],
                description="The new lead's URL.",
            ),
        ],
    )
    def create(self, request, *args, **kwargs):
        serializer = LeadWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("version", None)
        utm = {f: data.pop(f) for f in UTM_FIELDS if f in data}
        lead = _call_service(lead_create, actor=request.user, utm=utm, **data)
        response = Response(LeadSerializer(lead).data, status=status.HTTP_201_CREATED)
        response["Location"] = reverse("lead-detail", args=[lead.pk], request=request)
        return _with_etag(lead, response)

    @extend_schema(
        request=LeadWriteSerializer,
        parameters=[IF_MATCH, ETAG],
        responses={
            200: LeadSerializer, 409: ConflictErrorSerializer, 412: PRECONDITION_FAILED,
        },
    )
    def partial_update(self, request, *args, **kwargs):
        return super().partial_update(request, *args, **kwargs)

    @extend_schema(
        request=LeadWriteSerializer,
        parameters=[IF_MATCH, ETAG],
        responses={
            200: LeadSerializer, 409: ConflictErrorSerializer, 412: PRECONDITION_FAILED,
        },
    )
    def update(self, request, *args, **kwargs):
        lead = self.get_object()
        partial = kwargs.get("partial", False)
        serializer = LeadWriteSerializer(lead, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        precondition = Precondition(request, lead, data.pop("version", None))
        if precondition.failed:
            return precondition.failed
        # On an existing lead, channel and campaign correct its first touch.
        renames = (("channel", "first_touch_channel"), ("campaign", "first_touch_campaign"))
        for given, field in renames:
            if given in data:
                data[field] = data.pop(given)
        try:
            lead = _call_service(
                lead_update, lead=lead, actor=request.user, data=data,
                expected_version=precondition.expected_version,
            )
        except LeadVersionConflict as exc:
            return _conflict(exc, status_code=precondition.stale_status)
        return _with_etag(lead, Response(LeadSerializer(lead).data))

    @extend_schema(
        request=LeadMoveSerializer,
        parameters=[IF_MATCH, ETAG],
        responses={
            200: LeadSerializer,
            400: OpenApiResponse(LifecycleErrorSerializer, description="A rule forbids it."),
            409: OpenApiResponse(ConflictErrorSerializer, description="The lead changed."),
            412: PRECONDITION_FAILED,
            428: OpenApiResponse(
                PreconditionRequiredSerializer,
                description="Neither a body version nor an If-Match header was sent.",
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        """Move the lead to another stage through the lifecycle service. Say which version you
        moved from: the body's `version` (stale: 409) or its ETag in If-Match (stale: 412);
        with neither, 428."""
        lead = self.get_object()
        serializer = LeadMoveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        precondition = Precondition(request, lead, data.get("version"))
        if not precondition.names_a_version:
            return Response(
                {
                    "detail": "A move must say which version of the lead it was decided on: "
                    "send the version you read as `version` in the body, or its ETag in an "
                    "If-Match header.",
                },
                status=status.HTTP_428_PRECONDITION_REQUIRED,
            )
        if precondition.failed:
            return precondition.failed
        try:
            lead = _call_service(
                lead_move_to_stage,
                lead=lead,
                to_stage=data["to_stage"],
                actor=request.user,
                note=data["note"],
                reason=data["reason"],
                expected_version=precondition.expected_version,
            )
        except LifecycleRuleError as exc:
            return Response(
                {"rule": exc.rule, "detail": exc.message}, status=status.HTTP_400_BAD_REQUEST
            )
        except LeadVersionConflict as exc:
            return _conflict(exc, status_code=precondition.stale_status)
        return _with_etag(lead, Response(LeadSerializer(lead).data))

    @extend_schema(
        request=LeadAssignSerializer,
        parameters=[IF_MATCH, ETAG],
        responses={
            200: LeadSerializer,
            409: OpenApiResponse(ConflictErrorSerializer, description="The lead changed."),
            412: PRECONDITION_FAILED,
            428: OpenApiResponse(
                PreconditionRequiredSerializer,
                description="Neither a body version nor an If-Match header was sent.",
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        """Give the lead to another owner (or none) through the assign service; managers only
        (`leads.reassign_lead`). Like a move, say which version you decided on: the body's
        `version` (stale: 409) or its ETag in If-Match (stale: 412); with neither, 428."""
        if not request.user.has_perm("leads.reassign_lead"):
            raise PermissionDenied("You may not reassign leads.")
        lead = self.get_object()
        serializer = LeadAssignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        precondition = Precondition(request, lead, data.get("version"))
        if not precondition.names_a_version:
            return Response(
                {
                    "detail": "A reassignment must say which version of the lead it was decided "
                    "on: send the version you read as `version` in the body, or its ETag in an "
                    "If-Match header.",
                },
                status=status.HTTP_428_PRECONDITION_REQUIRED,
            )
        if precondition.failed:
            return precondition.failed
        try:
            lead = _call_service(
                lead_assign_owner, lead=lead, owner=data["owner"], actor=request.user,
                expected_version=precondition.expected_version,
            )
        except LeadVersionConflict as exc:
            return _conflict(exc, status_code=precondition.stale_status)
        return _with_etag(lead, Response(LeadSerializer(lead).data))

    @extend_schema(responses={200: StageTransitionSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def transitions(self, request, pk=None):
        """The lead's stage history, newest first."""
        lead = self.get_object()
        return Response(StageTransitionSerializer(lead_transitions(lead=lead), many=True).data)
