"""What the API's thin views share: turning a service's errors into answers, permissions by role
(leads/roles.py) per action, and the error bodies as the schema describes them."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import BasePermission


def service_call(fn, **kwargs):
    """Run a service; its ValidationError becomes a 400 naming the field, its PermissionDenied a
    403. The service has already rolled back its transaction, so nothing is half-written."""
    try:
        return fn(**kwargs)
    except DjangoValidationError as exc:
        raise ValidationError(validation_detail(exc))
    except DjangoPermissionDenied as exc:
        raise PermissionDenied(str(exc) or None)


def validation_detail(exc: DjangoValidationError):
    if hasattr(exc, "error_dict"):
        return {
            ("non_field_errors" if name == "__all__" else name): messages
            for name, messages in exc.message_dict.items()
        }
    return {"non_field_errors": exc.messages}


class RolePermission(BasePermission):
    """Django permissions (leads/roles.py) per action, from the view's `required_perms`: a dict
    of viewset action (list, retrieve, create, update, partial_update, destroy, a custom action)
    or, on a plain view, HTTP method (GET, POST, ...) to the permissions it needs. One not named
    is refused. Which rows a caller sees (a rep's own leads) is the queryset's business: an
    invisible row is a 404, not a 403."""

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        method = "GET" if request.method == "HEAD" else request.method
        if method == "OPTIONS":  # what the view accepts, no data
            return True
        key = getattr(view, "action", None) or method
        perms = view.required_perms.get(key)
        return perms is not None and user.has_perms(perms)


class FieldErrorsSerializer(serializers.Serializer):
    """A 400's body: each key names a field (or `non_field_errors`, or `detail` for a body that
    is not JSON), each value lists its messages."""

    non_field_errors = serializers.ListField(child=serializers.CharField(), required=False)
    detail = serializers.CharField(required=False)


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


BAD_REQUEST = OpenApiResponse(
    FieldErrorsSerializer,
    description='Invalid input; each error is under the name of its field: {"email": ["..."]}. '
    "A body that is not valid JSON answers {\"detail\": \"JSON parse error ...\"}.",
)
FORBIDDEN = OpenApiResponse(DetailSerializer, description="Your role may not do this.")
NOT_FOUND = OpenApiResponse(DetailSerializer, description="No such object that you may see.")


# Ids in URLs and filters: at most 18 digits, so that a longer one is a 404 or a 400 rather than
# an integer overflow in the database driver (SQLite's is a 500).
ID_REGEX = "[0-9]{1,18}"
ID_MAX = 10**18 - 1


def id_filter(field_name: str, label: str) -> django_filters.NumberFilter:
    return django_filters.NumberFilter(
        field_name=field_name, label=label, min_value=0, max_value=ID_MAX, decimal_places=0
    )


class InstantFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 instant, compared in UTC: ISO 8601 allows offsets PostgreSQL refuses (16 hours
    or more, "-16:46"), which were a 500."""

    def filter(self, qs, value):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return super().filter(qs, value)
