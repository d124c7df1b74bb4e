"""Test settings: fast hashing, no throttling surprises, tasks run through the real code paths."""

from .base import *  # noqa: F403
from .base import BASE_DIR, DATABASES, REST_FRAMEWORK, env

DEBUG = env.bool("DJANGO_DEBUG", default=False)
WHITENOISE_AUTOREFRESH = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# A file, not ":memory:", so that threads and a separate Celery worker process see the same test
# database, and so that SQLite's real locking is exercised.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {
        "NAME": env("FUNNELCRM_TEST_SQLITE", default=str(BASE_DIR / ".test-db.sqlite3"))
    }

REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        "anon": "10000/minute",
        "user": "10000/minute",
        "auth": "10000/minute",
        "intake": "10000/minute",
    },
}
# Dirty days are still recorded; the tests that check recomputes run them explicitly.
KPI_RECOMPUTE_ON_COMMIT = env.bool("KPI_RECOMPUTE_ON_COMMIT", default=False)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
CELERY_TASK_EAGER_PROPAGATES = True
# Login throttling (django-axes) is off by default so that tests may log in with
# `authenticate()` or `client.login()`, which pass no request; the tests of the throttle turn it on
# (the `axes_on` fixture in tests/conftest.py).
AXES_ENABLED = env.bool("AXES_ENABLED", default=False)
