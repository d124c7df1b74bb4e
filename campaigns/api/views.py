"""`POST /api/v1/intake/`: what a website's form posts to. Public by design: it is called
cross-site by visitors' browsers, so it takes no session, token or CSRF token; a campaign's form
key says which campaign the submission came through."""

import hashlib
from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from funnelcrm.parsers import JSONParser

from ..intake import form_submission_receive, honeypot_filled
from ..models import Campaign
from .serializers import IntakeReceivedSerializer, IntakeRefusedSerializer, IntakeSerializer

FORM_KEY_HEADER = "X-Form-Key"
# One answer for every accepted submission, new lead, returning lead or bot alike, so that the
# endpoint tells nobody whether an email is already a lead or that the honeypot caught them.
RECEIVED = {"status": "received"}


def form_key_from(request) -> str:
    """The form key: the body's `form_key` field, else the X-Form-Key header."""
    data = request.data
    key = data.get("form_key") if isinstance(data, Mapping) else None
    if not isinstance(key, str) or not key.strip():
        key = request.headers.get(FORM_KEY_HEADER, "")
    return key.strip()


class IntakeRateThrottle(SimpleRateThrottle):
    """At most API_THROTTLE_INTAKE submissions per client IP and form key. The IP is DRF's
    `get_ident` (REMOTE_ADDR, or X-Forwarded-For behind NUM_PROXIES proxies); the count lives in
    the default cache, which must be shared by all web processes in production (CACHE_URL)."""

    scope = "intake"

    def get_rate(self):
        # Read per request, not at import like SimpleRateThrottle.THROTTLE_RATES, so a settings
        # change (an override in tests) takes effect.
        try:
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        except KeyError:
            raise ImproperlyConfigured(f"No throttle rate set for scope '{self.scope}'.")

    def get_cache_key(self, request, view):
        # Hashed: the key is whatever the client sent, of any length and characters.
        key = hashlib.sha256(form_key_from(request).encode()).hexdigest()[:32]
        ident = f"{self.get_ident(request)}:{key}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


def _refused(detail: str, code: str) -> Response:
    return Response({"detail": detail, "code": code}, status=status.HTTP_403_FORBIDDEN)


class IntakeApi(APIView):
    """A missing or unknown form key answers 403 (not 401: there is no login to offer), whatever
    the campaign's status otherwise: a paused or ended campaign's form still brings leads in until
    its key is rotated."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [IntakeRateThrottle]
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(
        operation_id="intake_create",
        summary="Web-to-lead: receive a website form submission",
        description=(
            "Public: no user authentication; the campaign's form key (body field `form_key` or "
            "header `X-Form-Key`) says which campaign the form belongs to. JSON, form-encoded "
            "and multipart bodies are accepted; unknown fields are ignored. A new email creates "
            "an unassigned lead; an existing one (ignoring case) logs a `form submitted` "
            "activity and moves the lead's last touch. The answer is the same either way. "
            "Rate-limited per client IP and form key (429 with Retry-After)."
        ),
        auth=[],
        request=IntakeSerializer,
        parameters=[
            OpenApiParameter(
                FORM_KEY_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
                description="The campaign's form key, if not sent as the `form_key` field.",
            ),
        ],
        responses={
            202: IntakeReceivedSerializer,
            400: OpenApiResponse(
                description='A field is invalid, named as the key: {"email": ["..."]}.'
            ),
            403: OpenApiResponse(IntakeRefusedSerializer, description="Missing or unknown key."),
            429: OpenApiResponse(description="Too many submissions; see Retry-After."),
        },
        tags=["intake"],
    )
    def post(self, request):
        key = form_key_from(request)
        if not key:
            return _refused(
                f"A form key is required: send the campaign's key as the form_key field or "
                f"the {FORM_KEY_HEADER} header.",
                "form_key_missing",
            )
        campaign = Campaign.objects.filter(form_key=key).first()
        if campaign is None:
            return _refused(
                "Unknown form key. It may have been rotated: copy the current one from the "
                "campaign.",
                "form_key_unknown",
            )
        if honeypot_filled(request.data):
            return Response(RECEIVED, status=status.HTTP_202_ACCEPTED)

        serializer = IntakeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            form_submission_receive(campaign=campaign, data=serializer.validated_data)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
        return Response(RECEIVED, status=status.HTTP_202_ACCEPTED)
