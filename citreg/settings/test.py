"""Test settings: PostgreSQL and Redis from DATABASE_URL / REDIS_URL (``make test`` sets them),
fast password hashing, in-memory email outbox."""

import os

# The base settings refuse to start without SECRET_KEY when DEBUG is off; the tests have their own.
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")

from .base import *  # noqa: E402, F403

DEBUG = False
SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests that need real delivery run a worker process with EMAIL_URL pointing at a local SMTP server.
MAILERS = {"default": mailer_from_url(env("EMAIL_URL", default="memorymail://"))}  # noqa: F405
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
RATELIMIT_ENABLE = False  # Tests that check the limits turn it on (and clear the cache).
# django-axes: tests sign in with force_login or the test client; the lockout tests turn it on.
AXES_ENABLED = False
# Staff sign in with a password alone; the two-factor tests turn it on (tests/citreg/).
STAFF_2FA_REQUIRED = False
