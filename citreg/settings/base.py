"""Base settings, read from the environment with development defaults.

Every variable is listed in README.md ("Configuration") and ``.env.example``. With ``DEBUG=True``
(``make run`` sets it) the defaults run the site on one machine with no external service: SQLite,
kombu's filesystem broker, local-memory cache, console email. Without it they refuse to start
unless a real ``SECRET_KEY`` is given. ``production.py`` refuses to start without the values that
have no safe default.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# A .env file beside the code is read only when asked (``make run`` asks); what is already in the
# environment wins over it.
READ_DOT_ENV_FILE = env.bool("DJANGO_READ_DOT_ENV_FILE", default=False)
if READ_DOT_ENV_FILE:
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Debugging is on only when asked for (``make run`` sets DEBUG=True). Settings fail closed: without
# DEBUG, a real SECRET_KEY is required, and the entry points refuse to start without an explicit
# DJANGO_SETTINGS_MODULE unless DEBUG is on (citreg/startup.py).
DEBUG = env.bool("DEBUG", default=False)
# Public, in this repository: anyone could sign attendee links with it. Development only.
DEVELOPMENT_SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"  # noqa: S105


def secret_key(debug: bool) -> str:
    """The signing key from ``SECRET_KEY``; the public development key only while debugging.

    Args:
        debug: whether these settings run with ``DEBUG`` on.

    Returns:
        ``SECRET_KEY`` from the environment; when it is unset and ``debug`` is true,
        ``DEVELOPMENT_SECRET_KEY``.

    Raises:
        ImproperlyConfigured: ``debug`` is false and ``SECRET_KEY`` is unset or is the public
            development key (anyone could forge a manage link with it).
    """
    key = env("SECRET_KEY", default="")
    if debug:
        return key or DEVELOPMENT_SECRET_KEY
    if not key or key == DEVELOPMENT_SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set to a long random value when DEBUG is off (the development "
            "key is public). For local development set DEBUG=True, or run `make run`."
        )
    return key


SECRET_KEY = secret_key(DEBUG)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    # Django's admin with citreg's site (citreg/admin_site.py): staff two-factor sign-in.
    "citreg.apps.StaffAdminConfig",
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
    # After CSP, so it sees whether a page used the nonce: Permissions-Policy, Cache-Control.
    "citreg.middleware.SecurityHeadersMiddleware",
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

# Celery (namespace CELERY_ in citreg/celery_app.py). The broker: CELERY_BROKER_URL, else REDIS_URL,
# else the filesystem broker in var/broker (CELERY_BROKER_FOLDER); `make run` uses a Redis server
# that answers on this machine before falling back to it (devtools/run_env.py). The choice and
# its figures: docs/architecture.md, "The default run".
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://localhost/")
# Seconds a message a worker took may stay unacknowledged before Redis gives it to another worker
# (a worker killed mid-task: its tasks run again after this long). Keep it above the longest task
# (CELERY_TASK_TIME_LIMIT) and the longest countdown (EMAIL_RETRY_MAX_SECONDS), or such tasks run
# twice; the drills set it short. The filesystem broker has none (citreg/filesystem_broker.py).
CELERY_VISIBILITY_TIMEOUT_SECONDS = env.int("CELERY_VISIBILITY_TIMEOUT_SECONDS", default=3600)
if CELERY_VISIBILITY_TIMEOUT_SECONDS < 1:
    raise ImproperlyConfigured("CELERY_VISIBILITY_TIMEOUT_SECONDS must be 1 or more (seconds).")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport, made to publish whole messages only (it lost some and
    # stopped the worker under a burst).
    CELERY_BROKER_TRANSPORT = "citreg.filesystem_broker:Transport"
    _broker_dir = Path(env("CELERY_BROKER_FOLDER", default=str(VAR_DIR / "broker")))
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "incoming_folder": str(_broker_dir / "incoming"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # Seconds between looks at the queue folder while the worker waits; it also waits this
        # long whenever all its processes are busy, which caps it near 2 / interval tasks a second.
        "polling_interval": 0.05,
    }
else:
    # Fail fast when Redis is unreachable; publishing then retries briefly (EMAIL_PUBLISH_RETRIES)
    # and the sweeper sends what could not be published.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT_SECONDS,
    }
    # Every key under this prefix (`make run` sets one per checkout on a shared Redis).
    if _key_prefix := env("CELERY_BROKER_KEY_PREFIX", default=""):
        CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = _key_prefix
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
    "registrations.payments.reconcile",
    "registrations.payments.refunds",
    "registrations.intake",
    "registrations.privacy.retention",
    "registrations.changes.class_cancellation",
    "registrations.changes.enrolment",
]
CELERY_BEAT_SCHEDULE = {
    "sweep-outbound-email": {"task": "registrations.sweep_outbound_email", "schedule": 60.0},
    "restart-stalled-broadcasts": {
        "task": "registrations.restart_stalled_pumps",
        "schedule": 60.0,
    },
    "release-expired-holds": {"task": "registrations.release_expired_holds", "schedule": 60.0},
    # Payments left "creating" (or open/processing with Stripe's event lost) and refunds left
    # "pending" (registrations.payments.reconcile, .refunds).
    "reconcile-payments": {
        "task": "registrations.reconcile_payments",
        "schedule": env.float("CHECKOUT_RECONCILE_INTERVAL_SECONDS", default=60.0),
    },
    "retry-pending-refunds": {"task": "registrations.retry_pending_refunds", "schedule": 120.0},
    "send-due-reminders": {
        "task": "registrations.send_due_reminders",
        "schedule": env.float("REMINDER_INTERVAL_SECONDS", default=180.0),
    },
    # Hourly: refund registrants of cancelled classes who did not choose in time.
    "refund-unchosen-cancellations": {
        "task": "registrations.refund_unchosen_cancellations",
        "schedule": 3600.0,
    },
    # Hourly: email staff on a class's go/no-go date (registrations.changes.enrolment), once.
    "prompt-go-no-go": {"task": "registrations.prompt_go_no_go", "schedule": 3600.0},
    # Daily (seconds): the retention periods below, and Django's expired-session cleanup.
    "expire-substitutions": {"task": "registrations.expire_substitutions", "schedule": 3600.0},
    "apply-retention": {"task": "registrations.apply_retention", "schedule": 86400.0},
    "clear-expired-sessions": {
        "task": "registrations.clear_expired_sessions",
        "schedule": 86400.0,
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
# A task handed the id of a row it cannot see (not committed yet) retries this many times, after
# base × 2^n seconds (2, 4, 8, 16, 32: about a minute), then logs an error and fails
# (registrations.messaging.outbox.retry_for_missing_row).
TASK_ROW_RETRIES = env.int("TASK_ROW_RETRIES", default=5)
TASK_ROW_RETRY_BASE_SECONDS = env.float("TASK_ROW_RETRY_BASE_SECONDS", default=2.0)
# "Email the attendees" (registrations.messaging.broadcasts): messages per minute, to respect
# the provider.
BROADCAST_RATE_PER_MINUTE = env.float("BROADCAST_RATE_PER_MINUTE", default=120.0)

# The training office's dashboard (registrations.reports.dashboard): a published class starting
# within CLASS_MINIMUM_NOTICE_DAYS days with fewer than CLASS_MINIMUM_SEATS seats taken is shown
# as below its minimum; one with CLASS_NEARLY_FULL_SEATS seats left or fewer as nearly full.
CLASS_MINIMUM_SEATS = env.int("CLASS_MINIMUM_SEATS", default=8)
CLASS_MINIMUM_NOTICE_DAYS = env.int("CLASS_MINIMUM_NOTICE_DAYS", default=21)
CLASS_NEARLY_FULL_SEATS = env.int("CLASS_NEARLY_FULL_SEATS", default=3)
# Cancelling a class (registrations.changes.class_cancellation): days registrants have to choose
# a move to another class; who has not chosen by then is refunded in full.
CLASS_CANCELLATION_CHOICE_DAYS = env.int("CLASS_CANCELLATION_CHOICE_DAYS", default=7)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Staff sign-in (README "Security and privacy") ---
# Two-factor sign-in (django-two-factor-auth over django-otp: TOTP, with backup codes as the
# recovery method). When required, the admin opens only for a staff user verified by a device;
# one without a device is sent to set one up (citreg/admin_site.py). On unless switched off:
# the tests and `make run` switch it off, and each process then logs a warning at start
# (citreg/apps.py); production settings force it on.
STAFF_2FA_REQUIRED = env.bool("STAFF_2FA_REQUIRED", default=True)
LOGIN_URL = "two_factor:login"  # /account/login/: password, then a code from the device
LOGIN_REDIRECT_URL = "admin:index"
TWO_FACTOR_PATCH_ADMIN = False  # citreg's admin site decides (it follows STAFF_2FA_REQUIRED)
# Failed sign-ins (django-axes): after LOGIN_FAILURE_LIMIT wrong passwords for one username from
# one client address, that pair is refused for LOGIN_LOCKOUT_MINUTES, even with the right
# password; each failure is logged (AccessAttempt, AccessFailureLog in the admin). A username
# alone is not locked, so nobody can lock a staff member out from elsewhere. Both the admin's
# login and the two-factor login authenticate with the request, through axes.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # a lockout ends when it said it would
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_CALLABLE = "citreg.lockout.lockout_response"  # 429, Retry-After, this template:
AXES_LOCKOUT_TEMPLATE = "two_factor/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "citreg.client_ip.client_ip"  # the address the proxy saw (below)
# Sessions: a staff sign-in lasts 8 hours (from the last change to the session) and ends when the
# browser closes. Attendees' link grants live in the same session and end with it; their emailed
# links keep working until the links themselves expire, so a new browser just opens the link again.
# SameSite=Lax keeps the session on top-level navigations from webmail and back from Stripe.
SESSION_COOKIE_AGE = 8 * 60 * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_SAMESITE = "Lax"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "America/Denver"  # Admin and log display; storage is UTC (USE_TZ).
# Date formats with the zone's abbreviation after every time (citreg/formats/en/formats.py).
FORMAT_MODULE_PATH = ["citreg.formats"]
USE_I18N = True
USE_TZ = True
# ``urlize`` (broadcast bodies) links a bare "example.org" as https://, Django 2028's default.
URLIZE_ASSUME_HTTPS = True

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
# Seconds one HTTP attempt to Stripe may take; the library tries 3 times, so a call ends within
# about 3 × this + 2 s, well inside CHECKOUT_RECONCILE_GRACE_SECONDS.
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=10.0)
# Checkout (registrations.payments.checkout, .reconcile): a Pay press waits at most this long for
# another request of the same registration that is creating its checkout, then says "try again".
CHECKOUT_WAIT_SECONDS = env.float("CHECKOUT_WAIT_SECONDS", default=2.0)
# A payment still "creating" this long after its last change was abandoned by its request (the
# process or the database connection died): the beat task, or the next Pay press, reconciles it
# with Stripe. Must exceed the longest Stripe call (above).
CHECKOUT_RECONCILE_GRACE_SECONDS = env.int("CHECKOUT_RECONCILE_GRACE_SECONDS", default=60)
# Refunds (registrations.payments.refunds): a refund still "pending" this long after its last
# change lost its task or its request; the beat task issues it again with its idempotency key.
REFUND_PENDING_GRACE_SECONDS = env.int("REFUND_PENDING_GRACE_SECONDS", default=300)

# Abuse limits (registrations.ratelimits): per client IP and per email, "count/period".
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=True)
RATELIMIT_FAIL_OPEN = True  # A cache outage must not lock call-takers out.
RATELIMIT_REGISTER = env("RATELIMIT_REGISTER", default="10/h")
RATELIMIT_REGISTER_IP = env("RATELIMIT_REGISTER_IP", default="100/h")
RATELIMIT_LINK_REQUEST = env("RATELIMIT_LINK_REQUEST", default="5/h")
RATELIMIT_LINK_REQUEST_IP = env("RATELIMIT_LINK_REQUEST_IP", default="30/h")
# Looking up certificates (/certificates/<number>/, GET): per client IP only.
RATELIMIT_CERTIFICATE_IP = env("RATELIMIT_CERTIFICATE_IP", default="120/h")
# The client address, for the rate limits and for the sign-in lockout alike (citreg/client_ip.py):
# REMOTE_ADDR, or behind a reverse proxy the header it sets (CLIENT_IP_HEADER, e.g.
# X-Forwarded-For), read TRUSTED_PROXY_COUNT entries from the right, the ones our own proxies
# appended; what a client wrote further left is ignored.
CLIENT_IP_HEADER = env("CLIENT_IP_HEADER", default="")
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=1)
if TRUSTED_PROXY_COUNT < 1:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be 1 or more (the proxies in front).")
if env("RATELIMIT_IP_META_KEY", default=""):
    raise ImproperlyConfigured(
        "RATELIMIT_IP_META_KEY is replaced by CLIENT_IP_HEADER (and TRUSTED_PROXY_COUNT), which "
        "the sign-in lockout uses too: see .env.example."
    )
RATELIMIT_IP_META_KEY = "citreg.client_ip.client_ip"
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
    # Attendee link tokens never reach a log line (citreg/logfilters.py).
    "filters": {"redact_link_tokens": {"()": "citreg.logfilters.RedactLinkTokens"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_link_tokens"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Django's own console handler would print every request error a second time.
        "django": {"handlers": [], "propagate": True},
    },
}

# --- Headers and caching (citreg/middleware.py; docs/architecture.md, "Headers and caching") ---
# Django's Content-Security-Policy on every page. Public pages hold no inline script or style, so
# their policy has no nonce; admin pages put Django's nonce on their few <style> blocks (the `csp`
# context processor gives templates {% csp_nonce_attr %}). form-action names Stripe Checkout too:
# the Pay button's POST is answered by a redirect there, and Chromium checks form-action on it.
from django.utils.csp import CSP  # noqa: E402


def stripe_checkout_origin(api_base: str) -> str:
    """Where Stripe's hosted Checkout pages live for the API at ``api_base``.

    Stripe's own API (``https://api.stripe.com``) → ``https://checkout.stripe.com``; any other
    base is the local stand-in, which serves its checkout page on its own origin.
    """
    scheme, _, rest = api_base.partition("://")
    host = rest.split("/", 1)[0]
    if host == "api.stripe.com":
        return "https://checkout.stripe.com"
    return f"{scheme}://{host}"


def content_security_policy(checkout_origin: str) -> dict[str, list[str]]:
    """The ``SECURE_CSP`` policy, with Stripe Checkout's origin (``STRIPE_CHECKOUT_ORIGIN``) as
    the one other place a form may lead."""
    return {
        "default-src": [CSP.SELF],
        "script-src": [CSP.SELF],
        "style-src": [CSP.SELF, CSP.NONCE],
        "img-src": [CSP.SELF, "data:"],
        "object-src": [CSP.NONE],
        "base-uri": [CSP.NONE],
        "frame-ancestors": [CSP.NONE],
        "form-action": [CSP.SELF, checkout_origin],
    }


STRIPE_CHECKOUT_ORIGIN = env(
    "STRIPE_CHECKOUT_ORIGIN", default=stripe_checkout_origin(STRIPE_API_BASE)
).rstrip("/")
SECURE_CSP = content_security_policy(STRIPE_CHECKOUT_ORIGIN)
TEMPLATES[0]["OPTIONS"]["context_processors"].append("django.template.context_processors.csp")

# Browser features no page uses (classes run in Zoom, not in the site): off for every frame.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "encrypted-media",
        "geolocation",
        "gyroscope",
        "hid",
        "idle-detection",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
}
# Pages marked @public_page (catalogue, course, class, policy pages) may be kept this many seconds
# by browsers and shared caches; every other response is "private, no-store".
PUBLIC_PAGE_MAX_AGE = env.int("PUBLIC_PAGE_MAX_AGE", default=60)

# --- Personal data retention (registrations/privacy/retention.py; docs/architecture.md,
# "Personal data"). Whole days from the environment; the privacy notice shows these periods as
# configured. The daily beat task "registrations.apply_retention" applies them.
from datetime import timedelta  # noqa: E402

# Accessibility needs, phone and supervisor name/email: removed this many days after the class
# ends (the end of its last session), whatever the registration's state.
SENSITIVE_DETAILS_RETENTION = timedelta(
    days=env.int("SENSITIVE_DETAILS_RETENTION_DAYS", default=30)
)
# Bodies, context and attachments of sent emails: removed this many days after the email was
# queued; the row (recipient, subject, status) stays.
EMAIL_BODY_RETENTION = timedelta(days=env.int("EMAIL_BODY_RETENTION_DAYS", default=90))
# Stripe event payloads: removed this many days after receipt; the row (id, type, outcome)
# stays, so a replayed event is still recognised.
WEBHOOK_PAYLOAD_RETENTION = timedelta(days=env.int("WEBHOOK_PAYLOAD_RETENTION_DAYS", default=90))
# Registrations that never became a training record (rejected, cancelled, refunded, or still
# waiting when their class ended): anonymised this many days after their last change.
UNFINISHED_REGISTRATION_RETENTION = timedelta(
    days=env.int("UNFINISHED_REGISTRATION_RETENTION_DAYS", default=365)
)
# Training records (confirmed or completed: name, course email, agency, attendance, certificate,
# payment): kept this many days after the class ends, then anonymised. 2557 days is 7 years;
# continuing-education rules in several states ask for 5.
TRAINING_RECORD_RETENTION = timedelta(days=env.int("TRAINING_RECORD_RETENTION_DAYS", default=2557))
# django-axes's records of staff sign-ins, failures and lockouts (username, address, browser).
SIGN_IN_LOG_RETENTION = timedelta(days=env.int("SIGN_IN_LOG_RETENTION_DAYS", default=90))
# Names and addresses in imported participants reports (the minutes they gave stay).
ATTENDANCE_REPORT_RETENTION = timedelta(
    days=env.int("ATTENDANCE_REPORT_RETENTION_DAYS", default=90)
)
# Rows the retention task reads per query.
RETENTION_BATCH_SIZE = env.int("RETENTION_BATCH_SIZE", default=200)
