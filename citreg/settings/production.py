"""Production settings: everything from base, hardened, and no start without the real secrets.

Required: SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL, REDIS_URL. Raises ``ImproperlyConfigured`` at
import time when one is missing, so a misconfigured deploy fails before it serves a request.
"""

import os

from django.core.exceptions import ImproperlyConfigured

_missing = [
    name
    for name in ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL")
    if not os.environ.get(name)
]
if _missing:
    raise ImproperlyConfigured(
        "Production settings need these environment variables: " + ", ".join(_missing)
    )

os.environ.setdefault("DEBUG", "False")

from .base import *  # noqa: E402, F403
from .base import env, mailer_from_url, secret_key  # noqa: E402

DEBUG = False
SECRET_KEY = secret_key(debug=False)  # never the public development key, whatever DEBUG said
# Staff two-factor sign-in cannot be switched off here (citreg/admin_site.py).
STAFF_2FA_REQUIRED = True

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# The health endpoint is probed over plain HTTP by load balancers inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

MAILERS = {"default": mailer_from_url(env("EMAIL_URL", default="smtp://localhost:25"))}
