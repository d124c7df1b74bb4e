import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import ActivityType
from ..scoring.models import FitField, RescoreRun, RuleKind, ScoringRule, ScoringSettings
from ..scoring.services import (
    SETTINGS_FIELDS,
    rescore_run_latest,
    rescore_run_request,
    scoring_rule_delete,
    scoring_rule_save,
    scoring_settings_get,
    scoring_settings_update,
)
from .common import BAD_REQUEST, FORBIDDEN, ID_REGEX, NOT_FOUND, RolePermission, service_call

RULE_FIELDS = ["name", "active", "kind", "points", "field", "operator", "value", "activity_type",
               "cap"]


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


# --- rules and settings (admins configure; marketers and managers read) --------------------------


class ScoringRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScoringRule
        fields = ["id", *RULE_FIELDS, "created_at", "updated_at"]
        read_only_fields = fields


class ScoringRuleWriteSerializer(serializers.ModelSerializer):
    """A fit rule sets field, operator and value; an engagement rule sets activity_type and
    optionally cap. The model's own checks (the same as the settings page's) name the field."""

    class Meta:
        model = ScoringRule
        fields = RULE_FIELDS
        extra_kwargs = {
            "points": {"min_value": -1_000_000, "max_value": 1_000_000},
            "cap": {"max_value": 1_000_000},
        }


class ScoringRuleFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=RuleKind.choices, label="Kind")
    active = django_filters.BooleanFilter(label="Active")
    activity_type = django_filters.ChoiceFilter(choices=ActivityType.choices, label="Activity")
    field = django_filters.ChoiceFilter(choices=FitField.choices, label="Lead field")

    class Meta:
        model = ScoringRule
        fields = ["kind", "active", "activity_type", "field"]


RULE_READ = ["leads.view_scoringrule"]
RULE_WRITE = ["leads.change_scoringrule"]
RESCORE_NOTE = " Every lead is rescored in the background: see /api/v1/scoring/rescores/latest/."


@extend_schema_view(
    list=extend_schema(summary="Scoring rules", responses={200: ScoringRuleSerializer(many=True),
                                                           403: FORBIDDEN}),
    retrieve=extend_schema(summary="A scoring rule",
                           responses={200: ScoringRuleSerializer, 403: FORBIDDEN, 404: NOT_FOUND}),
    create=extend_schema(
        summary="Create a scoring rule (admins)", description=RESCORE_NOTE.strip(),
        request=ScoringRuleWriteSerializer,
        responses={201: ScoringRuleSerializer, 400: BAD_REQUEST, 403: FORBIDDEN},
    ),
    update=extend_schema(
        summary="Change a scoring rule (admins)", description=RESCORE_NOTE.strip(),
        request=ScoringRuleWriteSerializer,
        responses={200: ScoringRuleSerializer, 400: BAD_REQUEST, 403: FORBIDDEN, 404: NOT_FOUND},
    ),
    partial_update=extend_schema(
        summary="Change some of a scoring rule's fields (admins)",
        description=RESCORE_NOTE.strip(), request=ScoringRuleWriteSerializer,
        responses={200: ScoringRuleSerializer, 400: BAD_REQUEST, 403: FORBIDDEN, 404: NOT_FOUND},
    ),
    destroy=extend_schema(
        summary="Delete a scoring rule (admins)", description=RESCORE_NOTE.strip(),
        responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND},
    ),
)
class ScoringRuleViewSet(viewsets.ModelViewSet):
    queryset = ScoringRule.objects.order_by("kind", "name", "id")
    serializer_class = ScoringRuleSerializer
    filterset_class = ScoringRuleFilter
    lookup_value_regex = ID_REGEX
    permission_classes = [RolePermission]
    required_perms = {
        "list": RULE_READ, "retrieve": RULE_READ, "create": RULE_WRITE, "update": RULE_WRITE,
        "partial_update": RULE_WRITE, "destroy": RULE_WRITE,
    }

    def create(self, request, *args, **kwargs):
        body = ScoringRuleWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        rule = service_call(
            scoring_rule_save, actor=request.user, rule=ScoringRule(**body.validated_data)
        )
        return Response(ScoringRuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        rule = self.get_object()
        body = ScoringRuleWriteSerializer(
            rule, data=request.data, partial=kwargs.get("partial", False)
        )
        body.is_valid(raise_exception=True)
        for name, value in body.validated_data.items():
            setattr(rule, name, value)
        rule = service_call(scoring_rule_save, actor=request.user, rule=rule)
        return Response(ScoringRuleSerializer(rule).data)

    def destroy(self, request, *args, **kwargs):
        service_call(scoring_rule_delete, actor=request.user, rule=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ScoringSettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScoringSettings
        fields = [*SETTINGS_FIELDS, "updated_at"]
        read_only_fields = fields


class ScoringSettingsWriteSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScoringSettings
        fields = list(SETTINGS_FIELDS)
        extra_kwargs = {
            "mql_threshold": {"max_value": 1_000_000},
            "sql_threshold": {"max_value": 1_000_000},
            "half_life_days": {"max_value": 36_500},
        }


class ScoringSettingsApi(APIView):
    """The thresholds and decay: marketers and managers read them, admins change them. A change
    is kept in the settings' history and rescores every lead in the background."""

    permission_classes = [RolePermission]
    required_perms = {
        "GET": ["leads.view_scoringsettings"],
        "PUT": ["leads.change_scoringsettings"],
        "PATCH": ["leads.change_scoringsettings"],
    }

    @extend_schema(summary="Scoring thresholds and decay",
                   responses={200: ScoringSettingsSerializer, 403: FORBIDDEN})
    def get(self, request):
        return Response(ScoringSettingsSerializer(scoring_settings_get()).data)

    @extend_schema(
        summary="Change the scoring thresholds and decay (admins)",
        description=RESCORE_NOTE.strip(), request=ScoringSettingsWriteSerializer,
        responses={200: ScoringSettingsSerializer, 400: BAD_REQUEST, 403: FORBIDDEN},
    )
    def put(self, request):
        return self._update(request, partial=False)

    @extend_schema(
        summary="Change some scoring settings (admins)", description=RESCORE_NOTE.strip(),
        request=ScoringSettingsWriteSerializer,
        responses={200: ScoringSettingsSerializer, 400: BAD_REQUEST, 403: FORBIDDEN},
    )
    def patch(self, request):
        return self._update(request, partial=True)

    def _update(self, request, *, partial: bool):
        body = ScoringSettingsWriteSerializer(
            scoring_settings_get(), data=request.data, partial=partial
        )
        body.is_valid(raise_exception=True)
        settings = service_call(scoring_settings_update, actor=request.user,
                                **body.validated_data)
        return Response(ScoringSettingsSerializer(settings).data)
