"""Production settings with the environment the README documents ("Production"): the deploy
checks pass, the servers are required, and gunicorn with gunicorn.conf.py serves HTTPS behind a
proxy, whitenoise's hashed static files, and JSON log lines with the request id."""

import http.client
import json
import logging
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time

import pytest
from django.conf import settings

from funnelcrm.logformat import JsonFormatter

BASE_DIR = settings.BASE_DIR
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "funnelcrm.settings.production",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "crm.example.com,127.0.0.1",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://crm.example.com",
    "DATABASE_URL": "postgres://crm:secret@db.internal:5432/funnelcrm",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
    "CACHE_URL": "redis://redis.internal:6379/1",
}
_OWN = ("DJANGO_", "DATABASE_", "CELERY_", "CACHE_", "GUNICORN_", "LOG_LEVEL")


def _environment(**overrides) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(_OWN)}
    env = {**clean, **PRODUCTION_ENV, **overrides}
    return {k: v for k, v in env.items() if v is not None}


def _manage(*args, **env_overrides) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], env=_environment(**env_overrides),
        capture_output=True, text=True, cwd=BASE_DIR, timeout=120,
    )


def test_check_deploy_finds_no_issue():
    result = _manage("check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_is_checking_these_settings():
    # The same check fails once a protection is switched off, so the pass above means something.
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DJANGO_SECURE_SSL_REDIRECT="false", DJANGO_SECURE_HSTS_SECONDS="0",
    )

    assert result.returncode != 0
    assert "security.W008" in result.stderr  # SECURE_SSL_REDIRECT
    assert "security.W004" in result.stderr  # SECURE_HSTS_SECONDS


@pytest.mark.parametrize("variable", ["DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"])
def test_production_refuses_to_start_without_its_servers(variable):
    result = _manage("check", **{variable: None})

    assert result.returncode != 0
    assert f"Set the {variable} environment variable" in result.stderr


def test_a_log_record_is_one_json_line_with_level_logger_and_traceback():
    record = logging.getLogger("leads.services").makeRecord(
        "leads.services", logging.ERROR, __file__, 1, "Move of lead %s failed\nsecond line",
        (42,), None, extra={"lead_id": 42},
    )
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()

    line = JsonFormatter().format(record)

    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "leads.services"
    assert entry["message"] == "Move of lead 42 failed\nsecond line"
    assert entry["lead_id"] == 42
    assert "Traceback" in entry["exc"]
    assert "ValueError: boom" in entry["exc"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", entry["time"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, path: str, headers: dict | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Host": "crm.example.com", **(headers or {})})
    response = conn.getresponse()
    response.body = response.read()
    conn.close()
    return response


@pytest.fixture
def gunicorn_production(tmp_path):
    """gunicorn with ./gunicorn.conf.py and the production settings, after collectstatic.
    Yields (port, log lines so far); stops it at the end whatever happened."""
    env = _environment(
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
        # The pages served here read nothing from the database; a file keeps the test serverless.
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CACHE_URL="locmemcache://",
        GUNICORN_WORKERS="1", GUNICORN_THREADS="2",
    )
    collect = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"], env=env, cwd=BASE_DIR,
        capture_output=True, text=True, timeout=300,
    )
    assert collect.returncode == 0, collect.stderr
    port = _free_port()
    out = (tmp_path / "gunicorn.out").open("w+")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "funnelcrm.wsgi",
         "--bind", f"127.0.0.1:{port}"],
        env=env, cwd=BASE_DIR, stdout=out, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(port, "/login/")
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "gunicorn.out").read_text()
                assert time.monotonic() < deadline, "gunicorn did not answer within 60 s"
                time.sleep(0.3)

        def log_lines():
            out.flush()
            return (tmp_path / "gunicorn.out").read_text().splitlines()

        yield port, log_lines, server
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        out.close()


def test_gunicorn_serves_https_behind_the_proxy_and_logs_json_lines(gunicorn_production):
    port, log_lines, server = gunicorn_production

    # Plain HTTP is sent to HTTPS; the proxy's X-Forwarded-Proto says the client used HTTPS.
    plain = _get(port, "/login/")
    assert plain.status == 301
    assert plain.getheader("Location") == "https://crm.example.com/login/"

    page = _get(port, "/login/", {"X-Forwarded-Proto": "https"})
    assert page.status == 200
    assert "max-age=31536000" in page.getheader("Strict-Transport-Security")
    assert "includeSubDomains" in page.getheader("Strict-Transport-Security")
    assert "; Secure" in page.getheader("Set-Cookie")  # the CSRF cookie
    assert page.getheader("X-Frame-Options") == "DENY"

    # Static files: hashed names in the page, served by whitenoise, compressed, cached for good.
    css = re.search(rb'href="(/static/css/app\.[0-9a-f]{12}\.css)"', page.body)
    assert css, page.body[:2000]
    static = _get(port, css.group(1).decode(),
                  {"X-Forwarded-Proto": "https", "Accept-Encoding": "gzip"})
    assert static.status == 200
    assert static.getheader("Content-Encoding") == "gzip"
    assert "immutable" in static.getheader("Cache-Control")

    # The proxy's request id is kept and answered; an unusable one is replaced.
    api = _get(port, "/api/v1/leads/",
               {"X-Forwarded-Proto": "https", "X-Request-ID": "proxy-7f3a.42"})
    assert api.status == 401
    assert api.getheader("X-Request-ID") == "proxy-7f3a.42"
    forged = _get(port, "/api/v1/leads/",
                  {"X-Forwarded-Proto": "https", "X-Request-ID": 'x" level=ERROR'})
    assert re.fullmatch(r"[0-9a-f]{32}", forged.getheader("X-Request-ID"))

    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
    lines = log_lines()

    # Every line on stdout, gunicorn's and Django's alike, is one JSON object.
    entries = [json.loads(line) for line in lines]
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    assert any(e["logger"] == "gunicorn.error" and "Booting worker" in e["message"]
               for e in entries)
    access = [e for e in entries if e["logger"] == "gunicorn.access"]
    api_access = next(e for e in access if e.get("request_id") == "proxy-7f3a.42")
    assert api_access["level"] == "INFO"
    assert api_access["method"] == "GET"
    assert api_access["path"] == "/api/v1/leads/"
    assert api_access["status"] == 401
    assert isinstance(api_access["duration_ms"], int)
    assert api_access["message"] == "GET /api/v1/leads/ 401"
    # Django's own line about the same request carries its id too.
    warning = next(e for e in entries if e["logger"] == "django.request"
                   and e.get("request_id") == "proxy-7f3a.42")
    assert warning["level"] == "WARNING"
    assert warning["message"] == "Unauthorized: /api/v1/leads/"
    assert warning["status_code"] == 401
    # Each request's lines carry that request's own id.
    forged_warning = [e for e in entries if e["logger"] == "django.request"
                      and e.get("request_id") == forged.getheader("X-Request-ID")]
    assert len(forged_warning) == 1


@pytest.mark.parametrize(
    ("num_proxies", "forwarded_for", "expected"),
    [
        (0, "203.0.113.9", "10.0.0.5"),  # no proxy trusted: the header is ignored
        (1, "203.0.113.9", "203.0.113.9"),  # the address our proxy saw
        (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # a client's own header cannot forge it
        (2, "6.6.6.6, 203.0.113.9, 10.0.0.7", "203.0.113.9"),
    ],
)
def test_login_lockouts_count_the_client_ip_behind_the_proxies(
    settings, rf, num_proxies, forwarded_for, expected
):
    from axes.helpers import get_client_ip_address

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": num_proxies}
    settings.AXES_CLIENT_IP_CALLABLE = "funnelcrm.client_ip.client_ip"
    request = rf.post("/login/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR=forwarded_for)

    assert get_client_ip_address(request) == expected
