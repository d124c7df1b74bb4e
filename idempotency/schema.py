"""drf-spectacular postprocessing hook: document `Idempotency-Key` on every POST operation the
middleware applies to (authenticated POSTs under IDEMPOTENCY_PATH_PREFIX), with its 422, and its
409 beside any 409 the operation already had."""

from django.conf import settings
from rest_framework.permissions import AllowAny

from .middleware import HEADER, KEY_PATTERN, REPLAYED_HEADER

ERROR_COMPONENT = "IdempotencyKeyError"
ERROR_SCHEMA = {
    "type": "object",
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    "required": ["detail", "code"],
}
PARAMETER = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255,
               "pattern": f"^{KEY_PATTERN.pattern}$"},
    "description": "Makes the POST safe to retry: a repeat with the same key and request within "
    f"{settings.IDEMPOTENCY_KEY_TTL_HOURS} hours replays the first successful answer (with "
    f"`{REPLAYED_HEADER}: true`) and runs nothing. Keys are per user.",
}


def _takes_keys(view) -> bool:
    if not view.get_authenticators():
        return False
    return not any(isinstance(p, AllowAny) for p in view.get_permissions()) and bool(
        view.get_permissions()
    )


def _add_response(responses: dict, code: str, description: str) -> None:
    ref = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    existing = responses.get(code)
    if existing is None:
        responses[code] = {"content": {"application/json": {"schema": ref}},
                           "description": description}
        return
    content = existing.setdefault("content", {}).setdefault("application/json", {})
    if "schema" in content:
        content["schema"] = {"oneOf": [content["schema"], ref]}
    else:
        content["schema"] = ref
    existing["description"] = f"{existing.get('description', '')} Or: {description}".strip()


def document_idempotency_keys(result, generator, request, public):
    documented = False
    for path, _regex, method, view in generator._get_paths_and_endpoints():
        operation = result.get("paths", {}).get(path, {}).get("post")
        if (method != "POST" or operation is None
                or not path.startswith(settings.IDEMPOTENCY_PATH_PREFIX)
                or not _takes_keys(view)):
            continue
        operation.setdefault("parameters", []).append(dict(PARAMETER))
        responses = operation.setdefault("responses", {})
        _add_response(responses, "422", f"The {HEADER} was used for a different request.")
        _add_response(responses, "409", f"A request with this {HEADER} is still running.")
        documented = True
    if documented:
        result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = (
            ERROR_SCHEMA
        )
    return result
