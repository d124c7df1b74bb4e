"""Production: secrets and servers are required, HTTPS everywhere, static files through whitenoise,
JSON logs on stdout. README, "Production", lists the environment and the processes to run."""

import logging

from .base import *  # noqa: F403
from .base import MIDDLEWARE, STATIC_ROOT, STORAGES, env

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY")  # no default: refuse to start without it
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# No embedded fallbacks: SQLite in the project folder, a filesystem broker that only this machine
# sees, or a per-process cache (each gunicorn worker counting its own share of an API rate) would
# start and then go wrong quietly. Each line raises "Set the ... environment variable".
env("DATABASE_URL")
env("CELERY_BROKER_URL")
env("CACHE_URL")

# --- HTTPS, behind a TLS-terminating proxy that sets X-Forwarded-Proto -------------------------
# The proxy must set (not pass on) X-Forwarded-Proto, or a client could claim https itself.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Health checks from the proxy or the orchestrator come over plain HTTP on the private network.
SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]

# django-axes counts failed sign-ins per username and client IP. django-ipware is not installed, so
# its AXES_IPWARE_* settings would do nothing: the client IP comes from the API's rule instead
# (funnelcrm/client_ip.py, API_NUM_PROXIES), or every sign-in would seem to come from the proxy.
AXES_CLIENT_IP_CALLABLE = "funnelcrm.client_ip.client_ip"

# --- Static files: hashed names (cached forever by browsers), compressed, served by whitenoise ---
# (funnelcrm/storage.py: whitenoise's manifest storage, leaving JS source-map comments alone).
# `manage.py collectstatic --noinput` before (re)starting gunicorn; a page naming a file that was
# not collected fails loudly rather than linking a stale one.
STATIC_ROOT = env("DJANGO_STATIC_ROOT", default=str(STATIC_ROOT))
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "funnelcrm.storage.StaticFilesStorage"},
}

# --- Logs: one JSON object per line on stdout, each with the request id (funnelcrm/logformat.py) --
MIDDLEWARE = ["funnelcrm.logformat.RequestIdMiddleware", *MIDDLEWARE]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "funnelcrm.logformat.JsonFormatter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
        },
    },
    "root": {"handlers": ["stdout"], "level": env("LOG_LEVEL", default="INFO")},
}
# Python's warnings (a library's UserWarning) become log records too, not bare stderr lines.
logging.captureWarnings(True)
# Celery's worker and beat log through the same root logger instead of installing their own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
