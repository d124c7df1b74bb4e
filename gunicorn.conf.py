"""gunicorn's settings (README, "Production"). gunicorn reads ./gunicorn.conf.py by itself, so from
the project folder `gunicorn funnelcrm.wsgi` uses them; every value can be overridden by the
environment below or on the command line.

Threaded workers: most of a request's time is spent waiting for PostgreSQL, so a few threads per
process serve more requests in the same memory. Each thread keeps its own database connection
(CONN_MAX_AGE): workers x threads connections per machine, well under PostgreSQL's default 100.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
# A request still running after `timeout` seconds has its worker restarted (the proxy's own
# timeout should be a little longer); a restart or deploy lets requests finish for
# `graceful_timeout` seconds first.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 30
keepalive = 5  # behind a proxy that reuses its connections to us
# Recycle each worker after a while so a slow leak cannot grow without bound; the jitter keeps the
# workers from restarting all at once.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 2000))
max_requests_jitter = 200
# Which peers may tell gunicorn the request's scheme and client (X-Forwarded-*): the proxy's
# address. Django decides https from X-Forwarded-Proto itself (SECURE_PROXY_SSL_HEADER).
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# No control socket (gunicornc): signals and the service manager do that job, and two gunicorns
# of one user would otherwise share its default path.
control_socket_disable = True

# Logs: the access log and gunicorn's own messages on stdout as JSON lines, like Django's
# (funnelcrm/logformat.py). An access line carries method, path, status, duration_ms, bytes,
# remote_addr, user_agent and the request_id the app answered in X-Request-ID.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
logconfig_dict = {
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
    "root": {"level": "INFO", "handlers": ["stdout"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
    },
}
