"""TrackLayer settings, read from the environment.

Production is the default: DEBUG is off and the secure cookie, HSTS and CSP settings are on
unless ``TRACKLAYER_ENV`` says ``development`` or ``test``. Every variable is listed, with
its default, in ``.env.example`` and in the README's configuration table. A development
checkout's ``var/dev.env`` (``make run`` writes it) fills in what the environment leaves unset.
"""

import ipaddress
import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from tracklayer import localenv, regions

BASE_DIR = Path(__file__).resolve().parent.parent
# A development checkout's var/dev.env (``make run`` writes it): read before anything else, never
# over the environment, never where TRACKLAYER_ENV says production or test (tracklayer/localenv.py).
localenv.load(BASE_DIR / "var" / "dev.env")


def env(name: str, default: str = "") -> str:
    """The variable's value; unset and empty both mean the default (as in .env.example)."""
    return os.environ.get(name, "").strip() or default


def env_bool(name: str, default: bool) -> bool:
    value = env(name)
    return default if not value else value.lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = env(name)
    try:
        return int(value) if value else default
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


ENVIRONMENTS = ("production", "development", "test")
TRACKLAYER_ENV = env("TRACKLAYER_ENV", "production")
if TRACKLAYER_ENV not in ENVIRONMENTS:
    raise ImproperlyConfigured(f"TRACKLAYER_ENV must be one of {', '.join(ENVIRONMENTS)}")
IS_PRODUCTION = TRACKLAYER_ENV == "production"


SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if IS_PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set in production")
    SECRET_KEY = localenv.INSECURE_SECRET_KEY

DEBUG = env_bool("DEBUG", default=TRACKLAYER_ENV == "development")
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", "" if IS_PRODUCTION else "localhost,127.0.0.1,[::1],testserver"
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # django.contrib.admin, with a site that signs in only through allauth (MFA, rate limits,
    # audit) — see workspaces/auth/admin_site.py.
    "workspaces.auth.admin_config.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "csp",
    "django_celery_beat",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    # Each user's sessions, listed so they can be ended (SCIM deprovisioning, docs/identity.md).
    "allauth.usersessions",
    "tracklayer",
    "workspaces",
    "workspaces.sso",
    "workspaces.scim",
    "audit",
    "destinations",
    "privacy",
    "monitoring.anomalies",
    "monitoring.incidents",
    "compliance.access_reviews",
    "compliance.public_verification",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # NUL in a path, query string or dashboard form: 404 / 400 before a view looks it up.
    "tracklayer.nul_guard.RefuseNulMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "tracklayer.middleware.AdvisoryKeyMiddleware",
    "tracklayer.middleware.DomainErrorMiddleware",
]

ROOT_URLCONF = "tracklayer.urls"
WSGI_APPLICATION = "tracklayer.wsgi.application"
ASGI_APPLICATION = "tracklayer.asgi.application"

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
                "csp.context_processors.nonce",
                "workspaces.context_processors.workspaces",
                "audit.context_processors.audit_status",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
DEFAULT_DATABASE_URL = "postgres://tracklayer:tracklayer@127.0.0.1:5432/tracklayer"
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", DEFAULT_DATABASE_URL),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("TrackLayer runs on PostgreSQL only (DATABASE_URL=postgres://…)")
# Every request is one transaction, so a change made by a third-party flow (allauth's MFA
# activation, say) and the audit entry it triggers commit or roll back together.
DATABASES["default"]["ATOMIC_REQUESTS"] = True
# The data plane: one database per region (tracklayer/regions.py, docs/regions.md). Every
# query of a data-plane model goes to its workspace's region through the router, which refuses
# one that names no region.
DATABASES.update(
    regions.region_database_settings(
        env("REGION_DATABASES"),
        default=DATABASES["default"],
        production=IS_PRODUCTION,
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    )
)
DATABASE_ROUTERS = ["workspaces.regions.DataPlaneRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, broker -------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "tl",
        "TIMEOUT": 300,
    }
}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# The control plane's tasks (audit) run from the default queue, "celery". The tasks that work
# on a region's data plane (fan-out, delivery, sweeps, purges) run from the region's own queue,
# so that a region's worker pool can run beside its database: `celery -A tracklayer worker -Q
# region.eu` (docs/delivery.md). `make run` starts one worker for all of them.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_REGION_QUEUES = {code: regions.queue_for(code) for code in regions.REGIONS}
# Per-workspace schedules (audit exports) live in the database; the fixed ones below are
# loaded into it by the scheduler.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
_DELIVERIES_SWEEP = "destinations.tasks.deliveries_sweep"
CELERY_BEAT_SCHEDULE = {
    # Sign a checkpoint for every log that grew (after proving it consistent with the last).
    "audit-checkpoints": {
        "task": "audit.tasks.audit_checkpoint_sign_all",
        "schedule": env_int("AUDIT_CHECKPOINT_INTERVAL_SECONDS", 600),
    },
    # Verify every workspace's whole log once a day; the result is recorded and shown.
    "audit-verify": {
        "task": "audit.tasks.audit_verify_all",
        "schedule": crontab(hour=3, minute=30),
    },
    # Deliveries: fan out what ingestion committed and deliver what is due — the safety net
    # behind the kicks that ingestion, resume and replay send. One per region, on its queue.
    **{
        f"deliveries-sweep-{code}": {
            "task": _DELIVERIES_SWEEP,
            "schedule": env_int("DELIVERY_SWEEP_SECONDS", 2),
            "kwargs": {"region": code},
            "options": {"queue": CELERY_REGION_QUEUES[code]},
        }
        for code in regions.REGIONS
    },
    # Minute figures past their 90 days (docs/monitoring.md), per region on its queue.
    **{
        f"figures-purge-{code}": {
            "task": "destinations.tasks.figures_purge_task",
            "schedule": env_int("FIGURES_PURGE_INTERVAL_SECONDS", 3600),
            "kwargs": {"region": code},
            "options": {"queue": CELERY_REGION_QUEUES[code]},
        }
        for code in regions.REGIONS
    },
    # SAML: forget AuthnRequest ids and assertion ids past their expiry (docs/identity.md).
    "saml-expired-purge": {
        "task": "workspaces.sso.tasks.saml_expired_purge",
        "schedule": env_int("SAML_PURGE_INTERVAL_SECONDS", 3600),
    },
    # Drop IP addresses and user agents past each workspace's retention (audited), and
    # de-duplication keys past its window: each workspace's purge is queued on its region's
    # queue.
    "events-purge": {
        "task": "destinations.tasks.events_purge_expired_all",
        "schedule": env_int("EVENTS_PURGE_INTERVAL_SECONDS", 3600),
    },
    # Data-subject requests: a completed access request's match hashes are forgotten 30 days
    # after it completed (its export then answers 410; docs/privacy-requests.md).
    "privacy-access-expire": {
        "task": "privacy.requests.dsr_access_expire",
        "schedule": crontab(hour=4, minute=45),
    },
    # Purge deleted workspaces past their 90 days (docs/workspace-lifecycle.md): daily, each
    # purge queued on the default queue (it works on every region); an unfinished one resumes.
    "workspaces-purge": {
        "task": "destinations.tasks.workspaces_purge_due",
        "schedule": crontab(hour=4, minute=15),
    },
    # Anomalies (docs/monitoring.md): the detectors over every workspace of a region, every
    # minute, on the region's queue (its figures are in the region's database).
    **{
        f"anomalies-detect-{code}": {
            "task": "monitoring.anomalies.tasks.anomalies_detect",
            "schedule": env_int("ANOMALIES_DETECT_SECONDS", 60),
            "kwargs": {"region": code},
            "options": {"queue": CELERY_REGION_QUEUES[code], "expires": 55},
        }
        for code in regions.REGIONS
    },
    # Access reviews (docs/evidence-center.md): daily, open the quarter's review in every
    # workspace that has none yet and e-mail its admins (control plane: the default queue).
    "access-reviews-open-due": {
        "task": "compliance.access_reviews.tasks.access_reviews_open_due_task",
        "schedule": crontab(hour=6, minute=5),
    },
}

# --- Authentication -------------------------------------------------------------------------
AUTH_USER_MODEL = "workspaces.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "account_login"

ACCOUNT_ADAPTER = "workspaces.auth.adapter.AccountAdapter"
# SSO enforcement refuses a password reset too (docs/identity.md).
ACCOUNT_FORMS = {"reset_password": "workspaces.auth.forms.ResetPasswordForm"}
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
# allauth (65.x) merges these over its defaults (login 30/m/ip, reauthenticate 10/m/user, …);
# login_failed also bounds wrong MFA codes per account. The Django admin signs in only here.
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/5m/key"}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "TrackLayer"
# TOTP secrets and recovery-code seeds are sealed with the key ring (auth/mfa_adapter.py).
MFA_ADAPTER = "workspaces.auth.mfa_adapter.MFAAdapter"
# Staff reach the Django admin only with an authenticator app, used in this session. Always on
# in production; development and tests may switch it on (STAFF_MFA_REQUIRED=true).
STAFF_MFA_REQUIRED = IS_PRODUCTION or env_bool("STAFF_MFA_REQUIRED", False)
# SAML SSO (workspaces/sso, docs/identity.md): IdP-initiated sign-in (no AuthnRequest of
# ours) stays off unless this is on *and* the workspace allows it; the clock skew tolerated on
# an assertion's conditions; how long an AuthnRequest id waits for its response; how many
# refusals a minute reach a workspace's audit log (the rest are only logged).
SAML_IDP_INITIATED = env_bool("SAML_IDP_INITIATED", False)
SAML_CLOCK_SKEW_SECONDS = env_int("SAML_CLOCK_SKEW_SECONDS", 120)
SAML_REQUEST_LIFETIME_SECONDS = env_int("SAML_REQUEST_LIFETIME_SECONDS", 600)
SAML_REFUSALS_AUDITED_PER_MINUTE = env_int("SAML_REFUSALS_AUDITED_PER_MINUTE", 60)

# --- API --------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["workspaces.auth.api_keys.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "tracklayer.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # drf-spectacular's, plus the error answers every operation can send (tracklayer/api.py).
    "DEFAULT_SCHEMA_CLASS": "tracklayer.api.ApiSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "TrackLayer API",
    "DESCRIPTION": "Event ingestion (native and Segment-compatible) and the provable audit log.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PUBLIC": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "ApiKey": {"type": "http", "scheme": "bearer", "description": "tl_live_… or tl_test_…"}
        }
    },
    "SECURITY": [{"ApiKey": []}],
}

# Ingestion (docs/ingestion.md). Group commit: request threads hand events to one writer
# thread per process, which commits everything queued in one transaction (docs/adr/0008).
EVENTS_GROUP_COMMIT = env_bool("EVENTS_GROUP_COMMIT", True)
# Enqueue delivery work right after ingestion / resume / replay (off: only the sweep finds it).
DELIVERY_KICK = env_bool("DELIVERY_KICK", True)
# Seconds for a whole request to a platform — connecting (at most 3 s), sending and the whole
# answer, however slowly it comes; then the attempt is retried.
DELIVERY_HTTP_TIMEOUT = float(env("DELIVERY_HTTP_TIMEOUT", "10"))

# --- Egress: every outbound request (tracklayer/http.py, docs/egress.md) ---------------------
# Loopback (127.0.0.0/8, ::1) is refused in production; development and test allow it because
# the local platform servers and test receivers listen on 127.0.0.1.
EGRESS_ALLOW_LOOPBACK = env_bool("EGRESS_ALLOW_LOOPBACK", not IS_PRODUCTION)
# Networks the operator vouches for (CIDRs, comma-separated), e.g. an in-house MinIO at
# 10.20.0.0/16; every other non-public address stays refused.
EGRESS_ALLOW_NETWORKS = env_list("EGRESS_ALLOW_NETWORKS")
for _network in EGRESS_ALLOW_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"EGRESS_ALLOW_NETWORKS: {_network!r} is not a network (e.g. 10.20.0.0/16)"
        ) from None
# The most of an answer read from any receiver; past it the connection is closed.
EGRESS_MAX_RESPONSE_BYTES = env_int("EGRESS_MAX_RESPONSE_BYTES", 1024 * 1024)

# A hard cap on any ingestion body (before a workspace's own, lower limit applies).
INGEST_MAX_REQUEST_BYTES = env_int("INGEST_MAX_REQUEST_BYTES", 4 * 1024 * 1024)
# Behind a proxy that sets X-Forwarded-For, the visitor's IP is its first address.
INGEST_TRUST_PROXY = env_bool("INGEST_TRUST_PROXY", False)
API_KEY_DEFAULT_LIFETIME_DAYS = env_int("API_KEY_DEFAULT_LIFETIME_DAYS", 90)
# A verified key stays in the shared cache this long; revocation deletes it at once.
API_KEY_CACHE_SECONDS = env_int("API_KEY_CACHE_SECONDS", 300)
# bcrypt work factor for API key secrets (the secrets are 256-bit random; see docs/adr/0003).
API_KEY_BCRYPT_ROUNDS = env_int("API_KEY_BCRYPT_ROUNDS", 12)
# Failed API key attempts (wrong secret, unknown prefix) allowed per window before a 429
# api_key_throttled: per client address, and per key prefix (workspaces/auth/throttle.py).
API_KEY_THROTTLE_WINDOW_SECONDS = env_int("API_KEY_THROTTLE_WINDOW_SECONDS", 300)
API_KEY_THROTTLE_PER_IP = env_int("API_KEY_THROTTLE_PER_IP", 20)
API_KEY_THROTTLE_PER_PREFIX = env_int("API_KEY_THROTTLE_PER_PREFIX", 50)

INVITATION_LIFETIME_DAYS = env_int("INVITATION_LIFETIME_DAYS", 7)

# --- Internationalisation, static files ------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Production serves collected files (``manage.py collectstatic``) from STATIC_ROOT; development
# and tests serve them straight from the apps and static/ (WhiteNoise's finders mode).
STATIC_ROOT = env("STATIC_ROOT") or (BASE_DIR / "var" / "static" if IS_PRODUCTION else None)
WHITENOISE_USE_FINDERS = not IS_PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if IS_PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "TrackLayer <no-reply@localhost>")

# --- Security headers ----------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", IS_PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", IS_PRODUCTION)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", IS_PRODUCTION)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if IS_PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
# TLS ends at the load balancer, which says so in X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# A strict policy: nothing inline, nothing from elsewhere. htmx runs under it because its
# indicator styles are switched off (see templates/base.html) and no hx-on attributes are used.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
if TRACKLAYER_ENV == "development":
    # The delivery sweep runs every DELIVERY_SWEEP_SECONDS: without this, `make run`'s console
    # shows three lines about it every 2 s. Its warnings and errors still show.
    LOGGING["filters"] = {
        "quiet_sweep": {
            "()": "tracklayer.log_filters.QuietTasks",
            "tasks": [_DELIVERIES_SWEEP],
        }
    }
    for _logger in ("celery.beat", "celery.worker.strategy", "celery.app.trace"):
        LOGGING["loggers"][_logger] = {"filters": ["quiet_sweep"]}

# --- Audit log ----------------------------------------------------------------------------
# The first part of each workspace log's origin (C2SP checkpoint origin line): the log is
# ``<this>/<workspace public id>``. Fixed when a workspace's log is opened; never changes.
TRACKLAYER_AUDIT_ORIGIN = env("TRACKLAYER_AUDIT_ORIGIN", "tracklayer.local/audit")

# Directory exports (Settings → Compliance) go only below this folder, each workspace in its
# own area ``<root>/<workspace public id>/`` and, inside it, the relative folder it chose.
# A relative value is taken from the project directory.
AUDIT_EXPORT_ROOT = BASE_DIR / env("AUDIT_EXPORT_ROOT", "var/audit-exports")

# Absolute base URL of the dashboard, for links in e-mails (invitations).
TRACKLAYER_BASE_URL = env("TRACKLAYER_BASE_URL", "http://localhost:8000").rstrip("/")

# Keys that encrypt secrets at rest (tracklayer/keyring.py): "id:base64(32 bytes),…", the first
# encrypts, any decrypts. Required in production; derived from SECRET_KEY otherwise.
TRACKLAYER_KEYRING = env("TRACKLAYER_KEYRING")
