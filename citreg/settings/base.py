"""Base settings, read from the environment with development defaults.

Every variable is listed in README.md ("Configuration") and ``.env.example``. The defaults run the
site on one machine with no external service: SQLite, kombu's filesystem broker, local-memory cache,
console email. ``production.py`` refuses to start without the values that have no safe default.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# A .env file beside the code is read only when asked (``make run`` asks); what is already in the
# environment wins over it.
READ_DOT_ENV_FILE = env.bool("DJANGO_READ_DOT_ENV_FILE", default=False)
if READ_DOT_ENV_FILE:
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env(
    "SECRET_KEY", default="django-insecure-development-only-key-never-use-in-production"
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "localflavor",
    "django_ratelimit",
    "crispy_forms",
    "crispy_bootstrap5",
    "simple_history",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_static",
    "django_otp.plugins.otp_totp",
    "two_factor",
    "courses",
    "registrations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes requires: it answers locked-out sign-ins.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First, so a locked-out address is refused before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "citreg.urls"
WSGI_APPLICATION = "citreg.wsgi.application"
ASGI_APPLICATION = "citreg.asgi.application"

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
                "citreg.context_processors.site",
            ],
        },
    },
]

# Database: DATABASE_URL (postgres://…) in production and tests; a SQLite file by default.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'citreg.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    # Web, worker and beat all write: WAL lets readers run beside one writer, IMMEDIATE takes the
    # write lock at BEGIN (no deadlock on lock upgrade), and the timeout waits for it.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: cache (failing open) and Celery broker when REDIS_URL is set.
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                # Fail open: a Redis outage slows pages down, it never breaks them.
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 1,
            },
            "KEY_PREFIX": "citreg",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery (namespace CELERY_ in citreg/celery_app.py).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://localhost/")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.2,  # seconds; a message goes out in well under a second
    }
else:
    # Fail fast when Redis is unreachable; publishing then retries briefly (EMAIL_PUBLISH_RETRIES)
    # and the sweeper sends what could not be published.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
        "visibility_timeout": 3600,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 90
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
# Tasks live beside the services that enqueue them; the worker imports these modules.
CELERY_IMPORTS = [
    "registrations.messaging.outbox",
    "registrations.messaging.broadcasts",
    "registrations.messaging.reminders",
    "registrations.seats.booking",
    "registrations.payments.checkout",
    "registrations.payments.refunds",
]
CELERY_BEAT_SCHEDULE = {
    "sweep-outbound-email": {"task": "registrations.sweep_outbound_email", "schedule": 60.0},
    "restart-stalled-broadcasts": {
        "task": "registrations.restart_stalled_pumps",
        "schedule": 60.0,
    },
    "release-expired-holds": {"task": "registrations.release_expired_holds", "schedule": 60.0},
    "send-due-reminders": {
        "task": "registrations.send_due_reminders",
        "schedule": env.float("REMINDER_INTERVAL_SECONDS", default=180.0),
    },
}

# The payment provider (``registrations.payments.gateway``): a dotted path to the gateway class.
PAYMENT_GATEWAY = "registrations.payments.stripe_gateway.StripeGateway"

# The outbox (registrations.messaging.outbox): retries and sweeping, in seconds.
EMAIL_MAX_ATTEMPTS = env.int("EMAIL_MAX_ATTEMPTS", default=6)
EMAIL_RETRY_BASE_SECONDS = env.float("EMAIL_RETRY_BASE_SECONDS", default=5.0)
EMAIL_RETRY_MAX_SECONDS = env.float("EMAIL_RETRY_MAX_SECONDS", default=600.0)
EMAIL_SENDING_TIMEOUT_SECONDS = env.int("EMAIL_SENDING_TIMEOUT_SECONDS", default=300)
EMAIL_SWEEP_GRACE_SECONDS = env.int("EMAIL_SWEEP_GRACE_SECONDS", default=30)
EMAIL_PUBLISH_RETRIES = env.int("EMAIL_PUBLISH_RETRIES", default=1)
# "Email the attendees" (registrations.messaging.broadcasts): messages per minute, to respect
# the provider.
BROADCAST_RATE_PER_MINUTE = env.float("BROADCAST_RATE_PER_MINUTE", default=120.0)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "America/Denver"  # Admin and log display; storage is UTC (USE_TZ).
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Email: EMAIL_URL, e.g. smtp+tls://user:pass@host:587, smtps://…:465, consolemail://,
# filemail:///path/to/folder. Django 6.1 configures backends through MAILERS.
_MAILER_OPTIONS = {  # django-environ's EMAIL_* key → the backend's OPTIONS name, per backend
    "smtp": {
        "EMAIL_HOST": "host",
        "EMAIL_PORT": "port",
        "EMAIL_HOST_USER": "username",
        "EMAIL_HOST_PASSWORD": "password",
        "EMAIL_USE_TLS": "use_tls",
        "EMAIL_USE_SSL": "use_ssl",
        "EMAIL_TIMEOUT": "timeout",
    },
}


def mailer_from_url(url: str) -> dict:
    """Turn an ``EMAIL_URL`` into one ``MAILERS`` entry: ``{"BACKEND": path, "OPTIONS": {...}}``.

    SMTP connections time out after 10 seconds unless the URL says otherwise (``?timeout=``).
    """
    config = environ.Env.email_url_config(url)
    backend = config["EMAIL_BACKEND"]
    kind = backend.rsplit(".", 2)[-2]
    options = {
        name: config[key]
        for key, name in _MAILER_OPTIONS.get(kind, {}).items()
        if config.get(key) not in (None, "")
    }
    if kind == "smtp":
        options.setdefault("timeout", 10)
    if kind == "filebased":  # filemail:///abs/path or filemail://relative/path
        options["file_path"] = url.split("://", 1)[1].split("?", 1)[0]
    return {"BACKEND": backend, "OPTIONS": options}


MAILERS = {"default": mailer_from_url(env("EMAIL_URL", default="consolemail://"))}
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="CIT Training <training@citreg.localhost>")
SERVER_EMAIL = env("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
TRAINING_ADMIN_EMAIL = env("TRAINING_ADMIN_EMAIL", default="training@citreg.localhost")
ORGANISATION_NAME = env("ORGANISATION_NAME", default="CIT Training Administration")

# Seats (registrations.seats.booking): a checkout hold lasts 35 minutes, so the Checkout Session's
# expires_at (= the hold's end) is inside Stripe's 30 min – 24 h window; a waitlist offer 24 hours.
SEAT_HOLD_MINUTES = env.int("SEAT_HOLD_MINUTES", default=35)
WAITLIST_OFFER_HOURS = env.int("WAITLIST_OFFER_HOURS", default=24)

# Stripe (payments): the official library, pinned API version, overridable API base for the
# local stand-in. A missing or test key (sk_test_…) shows the "test mode" banner.
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env("STRIPE_API_BASE", default="https://api.stripe.com")
STRIPE_API_VERSION = "2026-10-28.endive"  # the version stripe 16.1 is built for

# Abuse limits (registrations.ratelimits): per client IP and per email, "count/period".
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=True)
RATELIMIT_FAIL_OPEN = True  # A cache outage must not lock call-takers out.
RATELIMIT_REGISTER = env("RATELIMIT_REGISTER", default="10/h")
RATELIMIT_REGISTER_IP = env("RATELIMIT_REGISTER_IP", default="100/h")
RATELIMIT_LINK_REQUEST = env("RATELIMIT_LINK_REQUEST", default="5/h")
RATELIMIT_LINK_REQUEST_IP = env("RATELIMIT_LINK_REQUEST_IP", default="30/h")
# Behind a proxy, django-ratelimit needs the real client IP: set RATELIMIT_IP_META_KEY to e.g.
# HTTP_X_FORWARDED_FOR only when the proxy overwrites that header.
if env("RATELIMIT_IP_META_KEY", default=""):
    RATELIMIT_IP_META_KEY = env("RATELIMIT_IP_META_KEY")
if not REDIS_URL:
    # The default run has no shared cache: django-ratelimit refuses local memory (E003) because
    # counts are per process. That is acceptable on one machine for a demo; production and the
    # tests use Redis, where the check passes.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Behind a reverse proxy that terminates TLS: trust its X-Forwarded-Proto only when told to.
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = env.bool("USE_X_FORWARDED_HOST", default=False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Django's own console handler would print every request error a second time.
        "django": {"handlers": [], "propagate": True},
    },
}
