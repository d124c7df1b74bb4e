"""drf-spectacular postprocessing hook: document the error answers every API operation can give
(found by Schemathesis, tests/api/test_schemathesis.py): 400 for a bad query/body, 401 without a
valid token, 403 for a role that may not, 404 for an id out of the caller's scope or not a
number. An operation's own, more precise description of a code is kept."""

DETAIL_COMPONENT = "ErrorDetail"
VALIDATION_COMPONENT = "ValidationErrors"
SCHEMAS = {
    DETAIL_COMPONENT: {
        "type": "object",
        "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
        "required": ["detail"],
    },
    # DRF's field errors: {"field": ["message", ...], ...} or {"detail": ...}.
    VALIDATION_COMPONENT: {"type": "object", "additionalProperties": {}},
}
ERRORS = {
    "400": ("Invalid query parameters or body; the errors name the fields.", VALIDATION_COMPONENT),
    "401": ("No valid credentials.", DETAIL_COMPONENT),
    "403": ("The caller's role may not do this.", DETAIL_COMPONENT),
    "404": ("Not found, or outside the caller's scope.", DETAIL_COMPONENT),
}
METHODS = {"get", "put", "patch", "post", "delete"}


def document_error_responses(result, generator, request, public):
    components = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in SCHEMAS.items():
        components.setdefault(name, schema)
    for path, item in result.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            takes_key = any(
                p.get("in") == "header" and p.get("name") == "Idempotency-Key"
                for p in operation.get("parameters", [])
            )
            for code, (description, component) in ERRORS.items():
                if code in responses:
                    continue
                ref = {"$ref": f"#/components/schemas/{component}"}
                responses[code] = {
                    "content": {"application/json": {"schema": ref}},
                    "description": description,
                }
            if takes_key or "requestBody" in operation:
                _detail_is_a_400(responses["400"])
    return result


def _detail_is_a_400(response: dict) -> None:
    """A body that does not parse (DRF) and a malformed Idempotency-Key (the idempotency
    middleware) are answered with {"detail", "code"?} before the view runs: allow that beside
    the view's own 400."""
    content = response.setdefault("content", {}).setdefault("application/json", {})
    detail = {"$ref": f"#/components/schemas/{DETAIL_COMPONENT}"}
    if content.get("schema") in (None, detail):
        content["schema"] = detail
        return
    content["schema"] = {"anyOf": [content["schema"], detail]}
    response["description"] = (
        f"{response.get('description', '')} Or: an unparsable body or malformed "
        "Idempotency-Key.".strip()
    )
