"""Settings shared by every environment.

Every deploy-time value is read from the environment (django-environ). The defaults give an
embedded set-up that needs no server: SQLite in the project folder and a filesystem Celery broker.
"""

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-local-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_htmx",
    "axes",
    "leads",
    "campaigns",
    "reports",
    "idempotency",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a signed-in user unless its view is marked @login_not_required (the login
    # page, /healthz/). DRF views (the API) opt out and answer 401/403 themselves.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Idempotency-Key on API POSTs (README, "REST API: safe writes"): inside the others, so
    # that a replayed answer gets their headers as the first one did.
    "idempotency.middleware.IdempotencyMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "funnelcrm.urls"
WSGI_APPLICATION = "funnelcrm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "funnelcrm.context_processors.navigation",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------
# SQLite is the embedded default. WAL lets readers run beside the writer, and IMMEDIATE transactions
# take the write lock at BEGIN, so concurrent writers queue (up to `timeout` seconds) instead of
# failing with "database is locked" when a read lock cannot be upgraded mid-transaction.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,
    "init_command": (
        "PRAGMA journal_mode=WAL;"
        "PRAGMA synchronous=NORMAL;"
        "PRAGMA foreign_keys=ON;"
        "PRAGMA busy_timeout=30000;"
    ),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(SQLITE_OPTIONS)
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# --- Sign-in ------------------------------------------------------------------------------------
# Every page but the login page needs a signed-in user; `/` sends them on to their first page.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# django-axes throttles password guessing on every login form (the app's and the admin's): after
# AXES_FAILURE_LIMIT failures for one username from one IP address, that pair is refused for
# AXES_COOLOFF_MINUTES; a successful login clears its count. Attempts are kept in the database, so
# every web process sees the same count. Behind a reverse proxy, REMOTE_ADDR is the proxy's.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# A failure while locked out does not restart the wait, so the page's "try again in" holds.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "funnelcrm.views.login_locked_out"

# --- Time: every KPI period boundary is in the organisation's time zone ---------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files -------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- REST API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first, so that an unauthenticated call answers 401 with `WWW-Authenticate: Token`.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Per anonymous IP and per user, with the rates read per request (funnelcrm/throttling.py).
    "DEFAULT_THROTTLE_CLASSES": [
        "funnelcrm.throttling.AnonRateThrottle",
        "funnelcrm.throttling.UserRateThrottle",
    ],
    # The client IP for anonymous rates: REMOTE_ADDR, unless behind this many reverse proxies
    # (then the address the nearest proxy saw, from X-Forwarded-For). Not trusting that header
    # by default: a client could send a new one with every request to escape its rate.
    "NUM_PROXIES": env.int("API_NUM_PROXIES", default=0),
    # A JSON body nested too deeply to parse is a 400, not a 500 (funnelcrm/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "funnelcrm.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("API_THROTTLE_ANON", default="60/minute"),
        "user": env("API_THROTTLE_USER", default="1200/minute"),
        "auth": env("API_THROTTLE_AUTH", default="10/minute"),
        # Web-to-lead submissions per client IP and form key (campaigns/api/views.py).
        "intake": env("API_THROTTLE_INTAKE", default="20/minute"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "FunnelCRM API",
    "DESCRIPTION": "Leads, their lifecycle, campaigns and funnel KPIs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "idempotency.schema.document_idempotency_keys",  # Idempotency-Key on API POSTs
        "funnelcrm.schema_errors.document_error_responses",  # 400/401/403/404 everywhere
    ],
    "ENUM_NAME_OVERRIDES": {
        "StageEnum": "leads.stages.Stage",
        "ChannelEnum": "campaigns.models.Channel",
        "CampaignStatusEnum": "campaigns.models.CampaignStatus",
        "ActivityTypeEnum": "leads.models.ActivityType",
    },
}

# Idempotency keys (README, "REST API: safe writes"): how long an answer is replayed, how long
# a claim whose request never finished (a killed process) blocks its key, which paths take them.
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
IDEMPOTENCY_CLAIM_TIMEOUT = env.int("IDEMPOTENCY_CLAIM_TIMEOUT", default=300)
IDEMPOTENCY_PATH_PREFIX = "/api/v1/"

# --- Cache -------------------------------------------------------------------------------------
# API throttling counts requests here. The local-memory default is per process: production,
# with several web processes, needs a shared cache, e.g. CACHE_URL=redis://127.0.0.1:6379/1.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

# --- Celery -------------------------------------------------------------------------------------
# Embedded mode: kombu's filesystem transport keeps messages in .broker/ so a worker and beat run
# with no server installed. Set CELERY_BROKER_URL=redis://... to use Redis.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_DIR = Path(env("CELERY_BROKER_DIR", default=str(BASE_DIR / ".broker")))
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE

# KPIs (reports/kpis.py): LTV's gross margin, and the sales cost per month that CAC adds to spend.
KPI_GROSS_MARGIN = env.float("KPI_GROSS_MARGIN", default=0.8)
KPI_SALES_COST_PER_MONTH = env.float("KPI_SALES_COST_PER_MONTH", default=0.0)
# A change marks its days dirty and, after commit, queues their recompute (reports/snapshots.py).
KPI_RECOMPUTE_ON_COMMIT = env.bool("KPI_RECOMPUTE_ON_COMMIT", default=True)
# Dirty days recomputed per transaction; and the age after which beat's reconcile treats a dirty
# day as lost (its queued recompute never ran) and recomputes it (reports/reconcile.py).
KPI_RECOMPUTE_BATCH_DAYS = env.int("KPI_RECOMPUTE_BATCH_DAYS", default=400)
KPI_DIRTY_STALE_AFTER = env.int("KPI_DIRTY_STALE_AFTER", default=120)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}
