"""`Idempotency-Key` on every POST under IDEMPOTENCY_PATH_PREFIX (/api/v1/), whichever view
answers it, so endpoints need no code of their own (README, "REST API: safe writes").

- The key belongs to the authenticated user (found with the view's own DRF authenticators).
  Anonymous callers (the public intake, the token endpoint) are not supported: their header is
  ignored, since a key shared by an IP address would let one visitor read another's answer.
- The first request claims the key, runs, and a 2xx answer is kept for IDEMPOTENCY_KEY_TTL_HOURS:
  a repeat with the same method, path and body gets it again (status, body, Content-Type,
  Location, ETag) with `Idempotent-Replayed: true`, and runs nothing.
- An answer other than 2xx releases the key: nothing was done, so a retry runs again.
- The same key with another request: 422. While the first is still running: 409, Retry-After.
"""

import contextlib
import hashlib
import json
import re
import tempfile

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.views import APIView

from .services import (
    Outcome,
    idempotency_key_claim,
    idempotency_key_complete,
    idempotency_key_release,
)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as a UUID or any token
# JSON bodies up to this size are compared as data (key order and spacing do not matter).
CANONICAL_JSON_MAX = 1024 * 1024
CHUNK = 64 * 1024


def _error(status: int, detail: str, code: str, **headers) -> JsonResponse:
    response = JsonResponse({"detail": detail, "code": code}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _drf_view(request: HttpRequest) -> APIView | None:
    """An instance of the DRF view the request goes to (for its authenticators), or None."""
    try:
        match = resolve(request.path_info, getattr(request, "urlconf", None))
    except Resolver404:
        return None
    cls = getattr(match.func, "cls", None)
    if not (isinstance(cls, type) and issubclass(cls, APIView)):
        return None
    return cls(**getattr(match.func, "initkwargs", {}))


def _user(request: HttpRequest, view: APIView):
    """The user the view's authenticators find, or None for an anonymous caller or one they
    refuse (the view answers that)."""
    # DRF's Request also sets the user it finds (or AnonymousUser) on the HttpRequest: put back
    # what the view's own authentication will start from.
    missing = object()
    before = request.__dict__.get("user", missing)
    authenticators = view.get_authenticators()
    for authenticator in authenticators:
        if isinstance(authenticator, SessionAuthentication):
            # Identify only: the view checks CSRF itself (and refuses, releasing the key).
            # Checking here would parse the body before the view does.
            authenticator.enforce_csrf = lambda request: None
    try:
        user = Request(request, authenticators=authenticators).user
    except APIException:
        user = None
    finally:
        if before is missing:
            request.__dict__.pop("user", None)
        else:
            request.user = before
    return user if user is not None and user.is_authenticated else None


def _body(request: HttpRequest) -> bytes | None:
    """The body, read so that the view can still read it. A body larger than Django's in-memory
    limit (a CSV upload) is spooled to a temporary file and hashed from there (None)."""
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if hasattr(request, "_body") or limit is None or length <= limit:
        return request.body
    return None


def _spooled_digest(request: HttpRequest, digest) -> None:
    spool = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)  # noqa: SIM115
    while chunk := request.read(CHUNK):
        digest.update(chunk)
        spool.write(chunk)
    spool.seek(0)
    # Hand the view a fresh stream holding the same bytes.
    request._stream = spool
    request._read_started = False


def _fingerprint(request: HttpRequest) -> str:
    digest = hashlib.sha256()
    digest.update(f"{request.method}\n{request.get_full_path()}\n".encode())
    body = _body(request)
    if body is None:
        _spooled_digest(request, digest)
        return digest.hexdigest()
    content_type = request.content_type or ""
    if body and len(body) <= CANONICAL_JSON_MAX and (
        content_type == "application/json" or content_type.endswith("+json")
    ):
        # Not JSON after all: compared byte for byte (the view will refuse it).
        with contextlib.suppress(ValueError, RecursionError):
            body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    digest.update(body)
    return digest.hexdigest()


def _replay(row) -> HttpResponse:
    response = HttpResponse(bytes(row.response_body), status=row.response_status)
    for name, value in row.response_headers.items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


class IdempotencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.method != "POST"
            or HEADER not in request.headers
            or not request.path_info.startswith(settings.IDEMPOTENCY_PATH_PREFIX)
        ):
            return self.get_response(request)
        view = _drf_view(request)
        if view is None:
            return self.get_response(request)
        key = request.headers[HEADER].strip()
        user = _user(request, view)
        if user is None:
            return self.get_response(request)
        if not KEY_PATTERN.fullmatch(key):
            return _error(
                400, f"{HEADER} must be 1 to 255 visible ASCII characters, e.g. a UUID.",
                "idempotency_key_invalid",
            )

        claim = idempotency_key_claim(
            user=user, key=key, fingerprint=_fingerprint(request), method=request.method,
            path=request.get_full_path(),
        )
        if claim.outcome == Outcome.REPLAY:
            return _replay(claim.row)
        if claim.outcome == Outcome.MISMATCH:
            return _error(
                422,
                f"This {HEADER} was already used for a different request ({claim.row.method} "
                f"{claim.row.path} with another body) in the last "
                f"{settings.IDEMPOTENCY_KEY_TTL_HOURS} hours. Send a new key for a new request.",
                "idempotency_key_reused",
            )
        if claim.outcome == Outcome.IN_PROGRESS:
            return _error(
                409,
                f"A request with this {HEADER} is still being processed. Retry after it has "
                "finished to get its answer.",
                "idempotency_key_in_progress", Retry_After="1",
            )

        try:
            response = self.get_response(request)
        except BaseException:
            idempotency_key_release(row=claim.row)
            raise
        if 200 <= response.status_code < 300 and not response.streaming:
            idempotency_key_complete(
                row=claim.row, status=response.status_code, headers=dict(response.items()),
                body=response.content,
            )
        else:
            idempotency_key_release(row=claim.row)
        return response
