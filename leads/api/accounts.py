"""Accounts (the companies leads work at): `/api/v1/accounts/`, through `account_create` and
`account_update`. Accounts are shared by the whole team, as in the admin: every role with
`leads.view_account` reads them all. An account's leads are not listed here; they are read
through the leads endpoint, which shows a rep only their own."""

import django_filters
from django.db.models import Q
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from ..models import Account
from ..services import ACCOUNT_EDITABLE_FIELDS, account_create, account_update
from .common import BAD_REQUEST, FORBIDDEN, ID_REGEX, NOT_FOUND, RolePermission, service_call


class AccountSerializer(serializers.ModelSerializer):
    class Meta:
        model = Account
        fields = ["id", *ACCOUNT_EDITABLE_FIELDS, "created_at", "updated_at"]
        read_only_fields = fields


class AccountWriteSerializer(serializers.ModelSerializer):
    """The fields a client sets; the service trims them and the model validates them again."""

    class Meta:
        model = Account
        fields = list(ACCOUNT_EDITABLE_FIELDS)
        extra_kwargs = {
            "country": {"help_text": "ISO 3166-1 alpha-2 code, e.g. DE."},
            "employees": {"max_value": 2_147_483_647},
        }


class AccountFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Name or domain contains")
    name = django_filters.CharFilter(lookup_expr="icontains", label="Name contains")
    domain = django_filters.CharFilter(lookup_expr="iexact", label="Domain")
    industry = django_filters.CharFilter(lookup_expr="iexact", label="Industry")
    country = django_filters.CharFilter(lookup_expr="iexact", label="Country (ISO code)")
    employees_min = django_filters.NumberFilter(
        field_name="employees", lookup_expr="gte", label="At least this many employees"
    )
    employees_max = django_filters.NumberFilter(
        field_name="employees", lookup_expr="lte", label="At most this many employees"
    )
    churned = django_filters.BooleanFilter(
        field_name="churned_at", lookup_expr="isnull", exclude=True, label="Churned"
    )

    class Meta:
        model = Account
        fields = ["q", "name", "domain", "industry", "country", "employees_min",
                  "employees_max", "churned"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(domain__icontains=value))


@extend_schema_view(
    list=extend_schema(summary="Accounts", responses={200: AccountSerializer(many=True),
                                                       403: FORBIDDEN}),
    retrieve=extend_schema(summary="An account",
                           responses={200: AccountSerializer, 403: FORBIDDEN, 404: NOT_FOUND}),
    create=extend_schema(
        summary="Create an account", request=AccountWriteSerializer,
        responses={201: AccountSerializer, 400: BAD_REQUEST, 403: FORBIDDEN},
    ),
    update=extend_schema(
        summary="Change an account (every field)", request=AccountWriteSerializer,
        responses={200: AccountSerializer, 400: BAD_REQUEST, 403: FORBIDDEN, 404: NOT_FOUND},
    ),
    partial_update=extend_schema(
        summary="Change some of an account's fields", request=AccountWriteSerializer,
        responses={200: AccountSerializer, 400: BAD_REQUEST, 403: FORBIDDEN, 404: NOT_FOUND},
    ),
)
class AccountViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """A change to a field that fit rules read (industry, employees, country) rescores the
    account's leads, in the same transaction."""

    queryset = Account.objects.order_by("name", "id")
    serializer_class = AccountSerializer
    filterset_class = AccountFilter
    lookup_value_regex = ID_REGEX
    permission_classes = [RolePermission]
    required_perms = {
        "list": ["leads.view_account"],
        "retrieve": ["leads.view_account"],
        "create": ["leads.add_account"],
        "update": ["leads.change_account"],
        "partial_update": ["leads.change_account"],
    }

    def create(self, request, *args, **kwargs):
        body = AccountWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        account = service_call(account_create, actor=request.user, **body.validated_data)
        return Response(AccountSerializer(account).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        account = self.get_object()
        body = AccountWriteSerializer(
            account, data=request.data, partial=kwargs.get("partial", False)
        )
        body.is_valid(raise_exception=True)
        account = service_call(
            account_update, account=account, actor=request.user, data=dict(body.validated_data)
        )
        return Response(AccountSerializer(account).data)
