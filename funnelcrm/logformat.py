"""Structured logs for production: one JSON object per line on stdout, with the request id.

`JsonFormatter` writes every record (Django's, Celery's, gunicorn's) as one line: time, level,
logger, message, the request id of the request being served, an `exc` field with the traceback,
and any `extra=` fields. gunicorn's access records carry their atoms as the record's args; those
become fields of their own (method, path, status, duration_ms, ...), so a log search can filter on
them without parsing the message.

`RequestIdMiddleware` takes the proxy's `X-Request-ID` when it looks like one (so a request can be
followed from the proxy's log into ours), or makes a new one, answers it in `X-Request-ID`, and
holds it for the formatter while the request is served.
"""

import contextvars
import json
import logging
import re
import uuid
from datetime import UTC, datetime

from django.core.signals import request_finished

REQUEST_ID_HEADER = "X-Request-ID"
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "funnelcrm_request_id", default=None
)
# What a proxy's request id may look like; anything else (too long, odd characters that could
# forge log fields) is replaced by our own.
_REQUEST_ID_OK = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# Attributes every LogRecord has; whatever else a record carries came from `extra=`.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName",
}
# gunicorn access-log atoms (gunicorn.glogging.Logger.atoms) -> field names.
_ACCESS_FIELDS = {
    "m": "method", "U": "path", "q": "query", "s": "status", "M": "duration_ms", "B": "bytes",
    "h": "remote_addr", "a": "user_agent", "{x-request-id}o": "request_id",
}


def request_id_get() -> str | None:
    """The id of the request this thread is serving, if any."""
    return _request_id.get()


def _plain(value):
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in messages and tracebacks escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            entry.update(self._access_fields(record.args))
        else:
            entry["message"] = record.getMessage()
            request_id = _request_id.get()
            if request_id:
                entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and key not in entry and key != "request":
                entry[key] = _plain(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)

    @staticmethod
    def _access_fields(atoms) -> dict:
        fields = {}
        for atom, name in _ACCESS_FIELDS.items():
            value = atoms.get(atom)  # gunicorn's wrapper answers "-" for an unknown atom
            if value in (None, "-", ""):
                continue
            if name in ("status", "duration_ms", "bytes"):
                try:
                    value = int(value)
                except (TypeError, ValueError):
                    continue
            fields[name] = value
        path = fields.get("path", "")
        if fields.get("query"):
            path = f"{path}?{fields['query']}"
        fields["message"] = f"{fields.get('method', '-')} {path} {fields.get('status', '-')}"
        return fields


class RequestIdMiddleware:
    """Give each request an id, answer it in X-Request-ID, and let the log lines carry it.

    The id is held until the response is closed (request_finished), not only while the middleware
    runs: Django logs a 4xx/5xx answer (logger django.request) after every middleware returned."""

    def __init__(self, get_response):
        self.get_response = get_response
        request_finished.connect(_request_id_clear, dispatch_uid="funnelcrm.logformat")

    def __call__(self, request):
        sent = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = sent if _REQUEST_ID_OK.fullmatch(sent) else uuid.uuid4().hex
        request.request_id = request_id
        _request_id.set(request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


def _request_id_clear(**kwargs):
    # A gthread worker serves its next request on the same thread: no id carried over to it.
    _request_id.set(None)
