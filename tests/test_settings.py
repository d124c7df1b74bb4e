"""Every settings module honours the environment the README documents."""

import json
import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings

SETTINGS_MODULES = ["local", "test", "production"]
PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "crm.example.com",
    # Production requires its servers (README, "Production").
    "DATABASE_URL": "postgres://crm:pw@db.internal:5432/funnelcrm",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
    "CACHE_URL": "redis://redis.internal:6379/1",
}


def _settings_in_subprocess(module: str, env: dict, names: list[str]) -> dict:
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps({{n: str(getattr(settings, n)) for n in {names!r}}}))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "DJANGO_SETTINGS_MODULE": f"funnelcrm.settings.{module}", **env},
        capture_output=True, text=True, cwd=settings.BASE_DIR, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", SETTINGS_MODULES)
def test_every_settings_module_reads_the_environment(module):
    env = {
        **PRODUCTION_ENV,
        "DATABASE_URL": "postgres://crm:pw@db.internal:5432/funnel",
        "TIME_ZONE": "Europe/Berlin",
        "CELERY_BROKER_URL": "redis://cache.internal:6379/2",
        "DJANGO_ALLOWED_HOSTS": "crm.example.com,crm2.example.com",
        "DJANGO_DEBUG": "true",
    }

    got = _settings_in_subprocess(
        module, env,
        ["DATABASES", "TIME_ZONE", "CELERY_TIMEZONE", "CELERY_BROKER_URL", "ALLOWED_HOSTS",
         "DEBUG", "SECRET_KEY"],
    )

    assert "'NAME': 'funnel'" in got["DATABASES"]
    assert "'HOST': 'db.internal'" in got["DATABASES"]
    assert got["TIME_ZONE"] == got["CELERY_TIMEZONE"] == "Europe/Berlin"
    assert got["CELERY_BROKER_URL"] == "redis://cache.internal:6379/2"
    assert got["ALLOWED_HOSTS"] == "['crm.example.com', 'crm2.example.com']"
    assert got["DEBUG"] == "True"
    assert got["SECRET_KEY"] == PRODUCTION_ENV["DJANGO_SECRET_KEY"]


def test_embedded_defaults_need_no_server():
    got = _settings_in_subprocess(
        "local", {}, ["DATABASES", "CELERY_BROKER_URL", "TIME_ZONE", "CELERY_BEAT_SCHEDULER"]
    )

    assert "django.db.backends.sqlite3" in got["DATABASES"]
    assert "db.sqlite3" in got["DATABASES"]
    assert "'transaction_mode': 'IMMEDIATE'" in got["DATABASES"]
    assert "journal_mode=WAL" in got["DATABASES"]
    assert got["CELERY_BROKER_URL"] == "filesystem://"
    assert got["TIME_ZONE"] == "UTC"
    assert got["CELERY_BEAT_SCHEDULER"].startswith("django_celery_beat")


def test_production_refuses_to_start_without_its_secret_key():
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        env={**clean, "DJANGO_SETTINGS_MODULE": "funnelcrm.settings.production",
             "DJANGO_ALLOWED_HOSTS": "crm.example.com"},
        capture_output=True, text=True, cwd=settings.BASE_DIR, timeout=60,
    )

    assert result.returncode != 0
    assert "Set the DJANGO_SECRET_KEY environment variable" in result.stderr


def test_production_settings_pass_the_deploy_checks():
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env={**clean, "DJANGO_SETTINGS_MODULE": "funnelcrm.settings.production", **PRODUCTION_ENV},
        capture_output=True, text=True, cwd=settings.BASE_DIR, timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
